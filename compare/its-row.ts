/**
 * The "GICv3 ITS live at the panic" row of `kboot compare` (issue 15): per strategy, a panic
 * at `running` handed off with D47358's bytes (`--its-handoff none`, a host booted for it) and
 * with kboot's descriptors (the trunk's mode), each followed by the rescue kernel's gicv3_its
 * LPI check (rescue/its-check.ts) on the live GIC registers and the hand-off in RAM — whatever
 * the rescue kernel is, since the check reads the hand-off, not the kernel's report.
 *
 * Contract: `itsComparison` is `n/a` on a machine without live LPI tables; else `passed` when
 * kboot's mode lets the rescue kernel reuse the tables and `failed` otherwise, with both
 * outcomes (and FreeBSD's panic message for the one that panics). Closes what it opens.
 */
import { basename } from 'node:path';
import { defaultItsHandoff, lpiTableRanges, type ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { HostSession } from '../machine/session.js';
import { checkItsReuse, type ItsReuse } from '../rescue/its-check.js';
import type { Ctx, Trunk } from './context.js';

/** One hand-off's outcome in the row. */
export interface ItsRun {
  readonly mode: ItsHandoffMode;
  readonly outcome: ItsReuse['outcome'] | 'not-rescued';
  readonly panic: string | null;
}

/** The row's cell for one strategy. */
export interface ItsComparison {
  readonly outcome: 'passed' | 'failed' | 'n/a';
  readonly baseline: ItsRun | null;
  readonly kboot: ItsRun | null;
  readonly detail: string;
}

/** A panic in `s` (armed as its strategy arms, with `mode` for a userspace load) and the check. */
function panicAndCheck(s: HostSession, ctx: Ctx, userspace: boolean, mode: ItsHandoffMode): ItsRun {
  if (userspace) s.loadCrash(ctx.rescue, 'linux', mode);
  const out = s.panic();
  if (!out.rescued) return { mode, outcome: 'not-rescued', panic: null };
  const r = checkItsReuse(s.machine, s.expected.region.start);
  return { mode, outcome: r.outcome, panic: r.panic ?? null };
}

/** D47358's bytes: a host booted with `--its-handoff none`, panicked at running. */
function baselineRun(ctx: Ctx, trunk: Trunk): ItsRun {
  const s = HostSession.boot({
    profile: ctx.profile,
    strategy: trunk.strategy.id,
    rescue: ctx.rescue,
    seed: ctx.seed,
    rescueName: basename(ctx.file),
    itsHandoff: 'none',
  });
  ctx.sessions++;
  try {
    s.advanceTo('running');
    return panicAndCheck(s, ctx, trunk.strategy.armedBy === 'userspace', 'none');
  } finally {
    s.close();
  }
}

const ok = (r: ItsRun): boolean => r.outcome === 'reuse-ok' || r.outcome === 'lpis-off';
const say = (r: ItsRun): string => `${r.mode}: ${r.panic === null ? r.outcome : `panic "${r.panic}"`}`;

/** The row for one strategy's trunk at `running` (see the module contract). */
export function itsComparison(ctx: Ctx, trunk: Trunk, mode: ItsHandoffMode | undefined): ItsComparison {
  if (lpiTableRanges(ctx.profile).length === 0) {
    return { outcome: 'n/a', baseline: null, kboot: null, detail: `${ctx.profile.name} has no live LPI tables` };
  }
  const chosen = mode ?? defaultItsHandoff(ctx.profile);
  ctx.sessions++;
  const fork = trunk.host.fork();
  let kboot: ItsRun;
  try {
    kboot = panicAndCheck(fork, ctx, trunk.strategy.armedBy === 'userspace', chosen);
  } finally {
    fork.close();
  }
  const baseline = chosen === 'none' ? kboot : baselineRun(ctx, trunk);
  return {
    outcome: ok(kboot) ? 'passed' : 'failed',
    baseline,
    kboot,
    detail: `${say(baseline)}; ${say(kboot)}`,
  };
}
