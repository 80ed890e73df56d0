/**
 * What one profile's comparison carries through its steps (compare/run.ts, compare/measure.ts):
 * the inputs, the temporary directory, the progress sink and the count of scenario sessions,
 * and each strategy's booted host (the trunk the scenarios fork from).
 */
import type { MachineProfile } from '../loader/plan/profile.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import type { HostSession } from '../machine/session.js';
import type { RescueStrategy } from '../machine/strategies/index.js';

/** One profile's run. */
export interface Ctx {
  readonly rescue: Uint8Array;
  readonly file: string;
  readonly profile: MachineProfile;
  readonly seed: number;
  readonly tmp: string;
  readonly progress: (line: string) => void;
  /** `--its-handoff` for this profile (undefined: its firmware's default; never set without live LPI tables). */
  readonly itsHandoff?: ItsHandoffMode;
  /** Scenario sessions run so far (forks of the trunks). */
  sessions: number;
}

/** One strategy's host, booted once and advanced phase by phase; scenarios run in its forks. */
export interface Trunk {
  readonly strategy: RescueStrategy;
  readonly host: HostSession;
  /** Wall time of the boot and every advance so far (the boot to the current phase). */
  bootMs: number;
}

export const now = (): number => performance.now();
/** Milliseconds to one decimal, as reports carry them. */
export const round = (ms: number): number => Math.round(ms * 10) / 10;
