/**
 * The actions of `kboot load [--crash] [--abi linux|freebsd] <elf>` and `kboot unload --crash`
 * (descriptors: cli/commands/host.ts): kexec_load-style calls from the host's userspace,
 * made on the replayed session and appended to the journal. With `--host` they are real calls
 * on the running system instead (cli/actions/host-kexec.ts, loaded only then).
 *
 * Contract: both hold the state directory's flock(2) around the whole read-replay-append-save
 * (machine/journal.ts withJournal; `--wait SECONDS`, then IO_LOCKED), so concurrent commands
 * are applied one after the other and every action a command reports is journaled. A failed
 * load or unload is journaled too (replaying it reproduces its effect: a failed crash reload
 * leaves no crash kernel, as on Linux) and then thrown as its KbootError.
 */
import { basename } from 'node:path';
import type { KexecAbi } from '../../loader/kexec/abi.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { fileRef, saveJournal, withJournal, type Journal, type JournalAction } from '../../machine/journal.js';
import type { ActionContext } from '../context.js';
import { CliCode, CliError } from '../errors.js';
import {
  existingStateDir,
  journalOrFail,
  lockWait,
  warnShared,
  withSession,
  type WritingStateOptions,
} from './host-state.js';

/** The options of `kboot load` (cli/commands/host.ts). */
export interface LoadOptions extends WritingStateOptions {
  crash?: boolean;
  abi?: KexecAbi;
  itsHandoff?: ItsHandoffMode;
  host?: boolean;
  dryRun?: boolean;
  memsize?: string;
}

/** The options of `kboot unload` (cli/commands/host.ts). */
export interface UnloadOptions extends WritingStateOptions {
  crash?: boolean;
  host?: boolean;
}

/** `kboot load FILE`: loads the kernel on the running host and journals the call. */
export async function runLoad(ctx: ActionContext, file: string, opts: LoadOptions): Promise<number | void> {
  const { io } = ctx;
  if (opts.host === true) {
    const { runHostLoad } = await import('./host-kexec.js');
    return runHostLoad(ctx, file, opts);
  }
  if (opts.dryRun === true || opts.memsize !== undefined)
    throw new CliError(CliCode.Usage, 'cli: --dry-run and --memsize go with --host', {});
  const abi = opts.abi ?? 'linux';
  const crash = opts.crash === true;
  const outcome = await withJournal(existingStateDir(opts, io), false, lockWait(opts), (dir) => {
    warnShared(io, dir);
    const journal = journalOrFail(dir);
    const kernel = fileRef(file, io.cwd, crash ? 'crash kernel' : 'kernel');
    const its = crash ? opts.itsHandoff : undefined;
    const action: JournalAction = {
      action: 'load',
      crash,
      kernel: kernel.ref,
      abi,
      ...(its === undefined ? {} : { itsHandoff: its }),
    };
    const next: Journal = { ...journal, actions: [...journal.actions, action] };
    const o = withSession(journal, (s) =>
      crash ? s.loadCrash(kernel.bytes, abi, its) : s.loadNormal(kernel.bytes, basename(file), abi),
    );
    saveJournal(dir, next); // failed loads too: replay reproduces their effect
    return o;
  });
  if (!outcome.ok) throw outcome.error;
  if (ctx.json) {
    const { slot, warnings } = outcome;
    io.out(`${JSON.stringify({ loaded: true, action: outcome.action, slot, abi, warnings }, null, 2)}\n`);
  } else io.out(`${crash ? 'crash kernel' : 'kernel'} loaded (${abi} kexec_load rules)\n`);
}

/** `kboot unload --crash`: kexec_load with no segments, journaled. */
export async function runUnload(ctx: ActionContext, opts: UnloadOptions): Promise<number | void> {
  const { io } = ctx;
  if (opts.host === true) {
    const { runHostUnload } = await import('./host-kexec.js');
    return runHostUnload(ctx, opts);
  }
  if (opts.crash !== true) throw new CliError(CliCode.Usage, 'cli: only --crash unloads are modelled', {});
  const outcome = await withJournal(existingStateDir(opts, io), false, lockWait(opts), (dir) => {
    warnShared(io, dir);
    const journal = journalOrFail(dir);
    const o = withSession(journal, (s) => s.unloadCrash());
    saveJournal(dir, { ...journal, actions: [...journal.actions, { action: 'unload', crash: true }] });
    return o;
  });
  if (!outcome.ok) throw outcome.error;
  io.out(ctx.json ? `${JSON.stringify({ unloaded: true }, null, 2)}\n` : 'crash kernel unloaded\n');
}
