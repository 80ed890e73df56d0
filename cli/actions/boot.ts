/**
 * The action of `kboot boot [--machine M] [--kernel FILE] [--strategy embed|kld|kexec]
 * [--rescue FILE] [--config loader.conf] [--to PHASE] [--memsize SIZE] [--seed N]`
 * (descriptor: cli/commands/host.ts): boot the host on a fresh emulated machine and start a
 * new journal (machine/journal.ts) in the state directory.
 *
 * Contract: every input is read and checked before the state directory is created (0700) or
 * locked: `--rescue` is the shorthand for what the strategy needs (embed: the embed step;
 * kld: `rescue_kernel_load` in loader.conf; kexec: the kernel whose reservation the host sets
 * aside at boot); `--config` reads a loader.conf (loader/preload loadLoaderConf) whose
 * `rescue_kernel` module (loader/preload findRescueKernel) and variables are used instead. A
 * configuration that loads no rescue_kernel module, no --rescue nor --config, a bad
 * --memsize or --seed is CLI_USAGE. Then, holding the directory's lock, the session boots,
 * its log (or with --json its status) is printed and the journal saved.
 */
import { resolve } from 'node:path';
import { loadLoaderConf, type LoadedLoaderConf } from '../../loader/preload/load-file.js';
import { findRescueKernel } from '../../loader/preload/rescue-module.js';
import type { HostPhase } from '../../machine/host/timeline.js';
import {
  configRefs,
  fileRef,
  JOURNAL_VERSION,
  machineRef,
  saveJournal,
  withJournal,
  type Journal,
} from '../../machine/journal.js';
import type { StrategyId } from '../../loader/strategy.js';
import type { ActionContext } from '../context.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { CliCode, CliError, sizeOption } from '../errors.js';
import { lockWait, stateDir, statusOf, warnShared, withSession, type WritingStateOptions } from './host-state.js';

/** The options of `kboot boot` (cli/commands/host.ts). */
export interface BootOptions extends WritingStateOptions {
  machine?: string;
  kernel?: string;
  strategy?: StrategyId;
  rescue?: string;
  config?: string;
  to?: HostPhase;
  memsize?: string;
  itsHandoff?: ItsHandoffMode;
  seed?: string;
}

/** The rescue kernel file: --rescue, else the rescue_kernel module of --config. */
function rescueKernelFile(
  opts: BootOptions,
  configPath: string | undefined,
  conf: LoadedLoaderConf | undefined,
): string {
  if (opts.rescue !== undefined) return opts.rescue;
  if (configPath === undefined || conf === undefined)
    throw new CliError(CliCode.Usage, 'cli: boot needs --rescue FILE or --config loader.conf', {});
  const found = findRescueKernel(configPath, conf);
  if (found === undefined) {
    throw new CliError(
      CliCode.Usage,
      `cli: ${configPath} loads no module of type rescue_kernel (rescue_kernel_load="YES", rescue_kernel_type="rescue_kernel")`,
      { config: configPath },
    );
  }
  return found;
}

/** --seed (0..2^32-1; default 1). */
function bootSeed(text: string | undefined): number {
  const seed = text === undefined ? 1 : Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw new CliError(CliCode.Usage, `cli: --seed must be 0..2^32-1`, { seed: text });
  return seed;
}

/** The new journal: every input read and checked (see the module contract). */
function bootJournal(ctx: ActionContext, opts: BootOptions): Journal {
  const { cwd } = ctx.io;
  const configPath = opts.config === undefined ? undefined : resolve(cwd, opts.config);
  const conf = configPath === undefined ? undefined : loadLoaderConf(configPath);
  const rescuePath = rescueKernelFile(opts, configPath, conf);
  if (opts.memsize !== undefined) sizeOption(opts.memsize, '--memsize');
  const seed = bootSeed(opts.seed);
  return {
    version: JOURNAL_VERSION,
    ...machineRef(opts.machine ?? 'amd64-efi', cwd),
    seed,
    actions: [
      {
        action: 'boot',
        strategy: opts.strategy ?? 'kld',
        phase: opts.to ?? 'running',
        rescue: fileRef(rescuePath, cwd, 'rescue kernel').ref,
        ...(opts.kernel === undefined ? {} : { kernel: fileRef(opts.kernel, cwd, 'host kernel').ref }),
        ...(conf === undefined ? {} : configRefs(conf)),
        ...(opts.memsize === undefined ? {} : { memsize: opts.memsize }),
        ...(opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff }),
      },
    ],
  };
}

/** `kboot boot`: boots, prints the log (or the status with --json) and saves the new journal. */
export async function runBoot(ctx: ActionContext, opts: BootOptions): Promise<void> {
  const { io } = ctx;
  const journal = bootJournal(ctx, opts);
  await withJournal(stateDir(opts, io), true, lockWait(opts), (dir) => {
    warnShared(io, dir);
    const status = withSession(journal, (s) => {
      if (!ctx.json) for (const l of s.log) io.out(`${l}\n`);
      return statusOf(s);
    });
    saveJournal(dir, journal);
    if (ctx.json) io.out(`${JSON.stringify(status, null, 2)}\n`);
  });
}
