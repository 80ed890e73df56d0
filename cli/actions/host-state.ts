/**
 * What the host commands (`kboot boot`, `load`, `unload`, `status`, `panic`) share: the
 * state directory (`--state DIR`, default ./.kboot) and its lock wait (`--wait SECONDS`), the
 * journal that must exist for every command but `boot`, the replayed session, and the status
 * object `boot --json` and `status` print.
 *
 * Contract: every command replays the journal on a fresh machine first (machine/journal.ts
 * replay), so commands in separate processes behave as one run; the session is closed
 * whatever happens. A missing journal is the usage error "run kboot boot first"; a state
 * path that is not a directory is IO_NOT_DIRECTORY; a bad --wait is CLI_USAGE.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { hex } from '../../loader/addr.js';
import { othersCanWrite } from '../../loader/io/output.js';
import { DEFAULT_LOCK_WAIT_MS } from '../../native/dir-lock.js';
import { loadJournal, replay, stateDirectory, type Journal } from '../../machine/journal.js';
import type { HostSession } from '../../machine/session.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import type { CliIo } from '../io.js';
import { CliCode, CliError } from '../errors.js';

/** The options every host command has (cli/commands/host.ts). */
export interface StateOptions {
  state?: string;
}

/** The options of the host commands that change the journal. */
export interface WritingStateOptions extends StateOptions {
  wait?: string;
}

/** The state directory named by --state, absolute. */
export function stateDir(opts: StateOptions, io: CliIo): string {
  return resolve(io.cwd, opts.state ?? '.kboot');
}

/** `--wait SECONDS` in milliseconds (0..3600), or the default. */
export function lockWait(opts: WritingStateOptions): number {
  const text = opts.wait;
  if (text === undefined) return DEFAULT_LOCK_WAIT_MS;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
    throw new CliError(CliCode.Usage, `cli: --wait must be a number of seconds 0..3600, not "${text}"`, {
      wait: text,
    });
  }
  return Math.round(seconds * 1000);
}

/** The journal in `dir`, or the usage error "run kboot boot first". */
export function journalOrFail(dir: string): Journal {
  const j = loadJournal(dir);
  if (j === undefined)
    throw new CliError(CliCode.Usage, `cli: no machine has been booted in ${dir} (run kboot boot first)`, { dir });
  return j;
}

/**
 * The state directory of a command that needs a booted machine: a missing one is the usage
 * error "run kboot boot first"; one that is not a directory is IO_NOT_DIRECTORY.
 */
export function existingStateDir(opts: StateOptions, io: CliIo): string {
  const dir = stateDir(opts, io);
  if (!existsSync(dir)) journalOrFail(dir);
  return stateDirectory(dir, false);
}

/** Warns (stderr) when others than its owner can write the state directory: they could replace the journal. */
export function warnShared(io: CliIo, dir: string): void {
  const w = othersCanWrite(dir);
  if (w !== undefined) io.err(`kboot: warning: state directory ${w}\n`);
}

/** What `kboot status` and `kboot boot --json` print. */
export function statusOf(s: HostSession): Record<string, unknown> {
  return {
    machine: s.profile.name,
    strategy: s.strategy,
    phase: s.phase,
    userspace: s.timeline.userspace,
    armed: s.armed === undefined ? null : { phase: s.armed.phase, how: s.armed.how },
    normalImageLoaded: s.normalLoaded,
    reservation: { start: hex(s.expected.region.start), size: hex(s.expected.region.size) },
  };
}

/** Runs `f` on the replayed session and closes it. */
export function withSession<T>(journal: Journal, f: (s: HostSession) => T): T {
  const s = replay(journal);
  try {
    return f(s);
  } finally {
    s.close();
  }
}

/** withSession for work that lets the event loop turn (a dump: progress, signals). */
export async function withSessionAsync<T>(
  journal: Journal,
  override: { readonly itsHandoff?: ItsHandoffMode },
  f: (s: HostSession) => Promise<T>,
): Promise<T> {
  const s = replay(journal, override);
  try {
    return await f(s);
  } finally {
    s.close();
  }
}

/** Paths as the user would type them: relative to the working directory when inside it. */
export function shownPath(io: CliIo, p: string): string {
  const r = relative(io.cwd, p);
  return r.startsWith('..') || isAbsolute(r) ? p : r;
}
