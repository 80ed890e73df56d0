/**
 * The host's life from boot to panic, one command per step, the state kept in a journal
 * (machine/journal.ts; `--state DIR`, default ./.kboot/):
 *
 *   kboot boot [--machine M] [--kernel FILE] [--strategy embed|kld|kexec] [--rescue FILE]
 *              [--config loader.conf] [--to PHASE] [--memsize SIZE] [--seed N]
 *   kboot load --crash <elf> [--abi linux|freebsd]     kexec_load(..., KEXEC_ON_CRASH) from userspace
 *   kboot unload --crash                                 kexec_load with no segments
 *   kboot status                                         exit 0 when a rescue kernel is armed (like kexec -S)
 *   kboot panic [--at PHASE]                             panic (after advancing to PHASE) and hand off
 *         [--dump-dir DIR | --dump-device FILE] [--format minidump|elf] [--compress none|gzip|zstd]
 *         [--fault dma|its|second-panic|full-target ...] [--no-progress]
 *                                                        then save the rescue kernel's /dev/dumper stream
 *                                                        (rescue/crash-dump.ts); exit 1 when incomplete
 *
 * Contract: every command replays the journal on a fresh machine first, so commands in
 * separate processes behave as one run; `boot` starts a new journal. `boot`, `load` and
 * `unload` hold the state directory's flock(2) around the whole read-replay-append-save
 * (machine/journal.ts withJournal; `--wait SECONDS`, then IO_LOCKED), so concurrent commands
 * are applied one after the other and every action a command reports is journaled; `boot`
 * reads and checks every input before it creates the state directory (0700). `--rescue` is the
 * shorthand for what the strategy needs (embed: the embed step; kld: `rescue_kernel_load`
 * in loader.conf; kexec: the kernel whose reservation the host sets aside at boot).
 * `--config` reads a loader.conf (loader/preload) whose `rescue_kernel` module and variables
 * are used instead. A failed load is journaled too: replaying it reproduces its effect (a
 * failed crash reload leaves no crash kernel, as on Linux).
 */
import type { Command } from 'commander';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { hex, parseSizeText } from '../../loader/addr.js';
import { IoCode, IoError, jsonSafe } from '../../loader/errors.js';
import { othersCanWrite } from '../../loader/io/output.js';
import { DEFAULT_LOCK_WAIT_MS } from '../../native/dir-lock.js';
import { HOST_PHASES, type HostPhase } from '../../machine/host/timeline.js';
import type { HostSession, PanicOutcome } from '../../machine/session.js';
import { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';
import { probeObserver, type ProbeRun } from '../../rescue/probe-observer.js';
import {
  configRefs,
  fileRef,
  JOURNAL_VERSION,
  loadJournal,
  machineRef,
  replay,
  saveJournal,
  stateDirectory,
  withJournal,
  type Journal,
  type JournalAction,
} from '../../machine/journal.js';
import type { LoadedLoaderConf } from '../../loader/preload/index.js';
import type { CliIo } from '../io.js';
import { DUMP_COMPRESSIONS, type DumpCompression } from '../../dump/compress.js';
import { progressReporter, summaryLine } from '../../dump/progress.js';
import { recoverDumpDirectory, recoveryLines, recoveryWarnings, type DumpDirRecovery } from '../../dump/recover.js';
import { outputDirectory } from '../../loader/io/output.js';
import { crashDumpAsync, DUMP_FAULTS, type CrashDumpResult, type DumpFault } from '../../rescue/crash-dump.js';
import { DUMP_FORMATS, type DumpFormat } from '../../rescue/dumper.js';
import { globalOptions, requestExitStatus } from '../context.js';
import { CliCode, CliError } from '../errors.js';

function phaseOf(text: string | undefined, fallback: HostPhase): HostPhase {
  if (text === undefined) return fallback;
  if (!(HOST_PHASES as readonly string[]).includes(text)) {
    throw new CliError(CliCode.Usage, `cli: unknown phase "${text}" (one of ${HOST_PHASES.join(', ')})`, {
      phase: text,
    });
  }
  return text as HostPhase;
}

function stateDir(cmd: Command, io: CliIo): string {
  const o = cmd.optsWithGlobals<{ state?: string }>();
  return resolve(io.cwd, o.state ?? '.kboot');
}

/** `--wait SECONDS` in milliseconds (0..3600), or the default. */
function lockWait(cmd: Command): number {
  const text = cmd.optsWithGlobals<{ wait?: string }>().wait;
  if (text === undefined) return DEFAULT_LOCK_WAIT_MS;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
    throw new CliError(CliCode.Usage, `cli: --wait must be a number of seconds 0..3600, not "${text}"`, {
      wait: text,
    });
  }
  return Math.round(seconds * 1000);
}

/**
 * The state directory of a command that needs a booted machine: a missing one is the usage
 * error "run kboot boot first"; one that is not a directory is IO_NOT_DIRECTORY.
 */
function existingStateDir(cmd: Command, io: CliIo): string {
  const dir = stateDir(cmd, io);
  if (!existsSync(dir)) journalOrFail(dir);
  return stateDirectory(dir, false);
}

/** Warns (stderr) when others than its owner can write the state directory: they could replace the journal. */
function warnShared(io: CliIo, dir: string): void {
  const w = othersCanWrite(dir);
  if (w !== undefined) io.err(`kboot: warning: state directory ${w}\n`);
}

function journalOrFail(dir: string): Journal {
  const j = loadJournal(dir);
  if (j === undefined)
    throw new CliError(CliCode.Usage, `cli: no machine has been booted in ${dir} (run kboot boot first)`, { dir });
  return j;
}

function statusOf(s: HostSession): Record<string, unknown> {
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
function withSession<T>(journal: Journal, f: (s: HostSession) => T): T {
  const s = replay(journal);
  try {
    return f(s);
  } finally {
    s.close();
  }
}

/** Reads a loader.conf (and its includes, recorded with their checksums). */
async function readConfig(configPath: string): Promise<LoadedLoaderConf> {
  const { loadLoaderConf } = await import('../../loader/preload/index.js');
  return loadLoaderConf(configPath);
}

/** withSession for work that lets the event loop turn (a dump: progress, signals). */
async function withSessionAsync<T>(journal: Journal, f: (s: HostSession) => Promise<T>): Promise<T> {
  const s = replay(journal);
  try {
    return await f(s);
  } finally {
    s.close();
  }
}

/** Resolves the rescue kernel a loader.conf preloads (relative to the configuration's directory). */
async function rescueFromConfig(configPath: string, conf: LoadedLoaderConf): Promise<string> {
  const { preloadDecisions } = await import('../../loader/preload/index.js');
  const decisions = preloadDecisions(conf);
  const mod = decisions.rescueKernel;
  if (mod === undefined) {
    throw new CliError(
      CliCode.Usage,
      `cli: ${configPath} loads no module of type rescue_kernel (rescue_kernel_load="YES", rescue_kernel_type="rescue_kernel")`,
      {
        config: configPath,
      },
    );
  }
  const dir = dirname(configPath);
  const tries = [isAbsolute(mod.name) ? mod.name : resolve(dir, mod.name), resolve(dir, mod.name.replace(/^\/+/, ''))];
  const found = tries.find((p) => existsSync(p));
  if (found === undefined) {
    throw new IoError(
      IoCode.NotFound,
      `io: the rescue kernel ${mod.name} named by ${configPath} is not at ${tries.join(' or ')}`,
      { tries, path: tries[0] },
    );
  }
  return found;
}

function printPanic(io: CliIo, out: PanicOutcome<ProbeRun>, log: readonly string[]): void {
  for (const l of log) io.out(`  ${l}\n`);
  if (!out.rescued) {
    io.out(
      `panic at ${out.phase}: not rescued: ${out.reason ?? (out.jump === undefined ? 'nothing armed' : out.jump.stop.kind)}\n`,
    );
    return;
  }
  io.out(
    `panic at ${out.phase}: the rescue kernel (armed at ${out.armedAt ?? '?'}) was entered at ${hex(out.jump?.stopAt ?? 0n)} after ${out.jump?.stop.executed ?? 0} instructions\n`,
  );
  const r = out.observed?.report;
  if (r !== undefined)
    io.out(
      `probe report: ${r.complete ? 'complete' : 'INCOMPLETE'}, checksum ${hex(r.checksum)}, hand-off read at ${hex(r.handoffAddr)}\n`,
    );
  for (const l of out.console) io.out(`console: ${l}\n`);
}

/** Registers boot, load, unload, status and panic. */
export function registerHost(program: Command, io: CliIo): void {
  const state = (c: Command): Command => c.option('--state <dir>', 'the state journal directory (default ./.kboot)');
  /** Commands that change the journal wait for another one holding it. */
  const writes = (c: Command): Command =>
    state(c).option(
      '--wait <seconds>',
      `how long to wait for another kboot command using the state directory (default ${DEFAULT_LOCK_WAIT_MS / 1000})`,
    );

  writes(
    program
      .command('boot')
      .description('boot the host on a fresh emulated machine, arming the rescue kernel the way the strategy does')
      .option('-m, --machine <name|file>', 'machine profile (default amd64-efi)')
      .option('--kernel <file>', 'the host kernel ELF (default: a generated one)')
      .option('--strategy <how>', 'embed, kld or kexec (default kld)')
      .option('--rescue <file>', 'the rescue kernel (shorthand for the loader.conf lines or the embed step)')
      .option('--config <loader.conf>', 'a loader.conf whose rescue_kernel module is preloaded')
      .option('--to <phase>', `boot up to this phase (default running): ${HOST_PHASES.join(', ')}`)
      .option('--memsize <size>', 'debug.rescue_memsize')
      .option('--seed <n>', 'seed of the host model (default 1)'),
  ).action(
    async (
      opts: {
        machine?: string;
        kernel?: string;
        strategy?: string;
        rescue?: string;
        config?: string;
        to?: string;
        memsize?: string;
        seed?: string;
      },
      cmd: Command,
    ) => {
      const g = globalOptions(cmd);
      const strategy = (opts.strategy ?? 'kld') as StrategyId;
      if (!(STRATEGY_IDS as readonly string[]).includes(strategy)) {
        throw new CliError(CliCode.Usage, `cli: --strategy must be embed, kld or kexec, not "${strategy}"`, {
          strategy,
        });
      }
      const configPath = opts.config === undefined ? undefined : resolve(io.cwd, opts.config);
      const conf = configPath === undefined ? undefined : await readConfig(configPath);
      const rescuePath =
        opts.rescue ??
        (configPath === undefined || conf === undefined ? undefined : await rescueFromConfig(configPath, conf));
      if (rescuePath === undefined)
        throw new CliError(CliCode.Usage, 'cli: boot needs --rescue FILE or --config loader.conf', {});
      if (opts.memsize !== undefined && parseSizeText(opts.memsize) === undefined) {
        throw new CliError(CliCode.Usage, `cli: --memsize "${opts.memsize}" is not a size`, { value: opts.memsize });
      }
      const seed = opts.seed === undefined ? 1 : Number(opts.seed);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff)
        throw new CliError(CliCode.Usage, `cli: --seed must be 0..2^32-1`, { seed: opts.seed });
      // every input is read (and refused) before the state directory is made or locked
      const boot: JournalAction = {
        action: 'boot',
        strategy,
        phase: phaseOf(opts.to, 'running'),
        rescue: fileRef(rescuePath, io.cwd, 'rescue kernel').ref,
        ...(opts.kernel === undefined ? {} : { kernel: fileRef(opts.kernel, io.cwd, 'host kernel').ref }),
        ...(conf === undefined ? {} : configRefs(conf)),
        ...(opts.memsize === undefined ? {} : { memsize: opts.memsize }),
      };
      const journal: Journal = {
        version: JOURNAL_VERSION,
        ...machineRef(opts.machine ?? 'amd64-efi', io.cwd),
        seed,
        actions: [boot],
      };
      await withJournal(stateDir(cmd, io), true, lockWait(cmd), (dir) => {
        warnShared(io, dir);
        const status = withSession(journal, (s) => {
          if (!g.json) for (const l of s.log) io.out(`${l}\n`);
          return statusOf(s);
        });
        saveJournal(dir, journal);
        if (g.json) io.out(`${JSON.stringify(status, null, 2)}\n`);
      });
    },
  );

  writes(
    program
      .command('load')
      .description("kexec_load-style call from the host's userspace (--crash: the rescue kernel)")
      .argument('<elf>', 'the kernel to load')
      .option('--crash', 'load it as the crash (rescue) kernel (KEXEC_ON_CRASH)')
      .option('--abi <abi>', 'linux or freebsd rules (default linux)'),
  ).action(async (file: string, opts: { crash?: boolean; abi?: string }, cmd: Command) => {
    const g = globalOptions(cmd);
    const abi = opts.abi ?? 'linux';
    if (abi !== 'linux' && abi !== 'freebsd')
      throw new CliError(CliCode.Usage, `cli: --abi must be linux or freebsd`, { abi });
    const outcome = await withJournal(existingStateDir(cmd, io), false, lockWait(cmd), (dir) => {
      warnShared(io, dir);
      const journal = journalOrFail(dir);
      const crash = fileRef(file, io.cwd, opts.crash === true ? 'crash kernel' : 'kernel');
      const action: JournalAction = { action: 'load', crash: opts.crash === true, kernel: crash.ref, abi };
      const next: Journal = { ...journal, actions: [...journal.actions, action] };
      const o = withSession(journal, (s) =>
        opts.crash === true ? s.loadCrash(crash.bytes, abi) : s.loadNormal(crash.bytes, basename(file), abi),
      );
      saveJournal(dir, next); // failed loads too: replay reproduces their effect
      return o;
    });
    if (!outcome.ok) throw outcome.error;
    if (g.json) {
      const { slot, warnings } = outcome;
      io.out(`${JSON.stringify({ loaded: true, action: outcome.action, slot, abi, warnings }, null, 2)}\n`);
    } else io.out(`${opts.crash === true ? 'crash kernel' : 'kernel'} loaded (${abi} kexec_load rules)\n`);
  });

  writes(
    program
      .command('unload')
      .description('unload the crash kernel (kexec_load with no segments)')
      .requiredOption('--crash', 'the crash kernel (the only kind modelled; required)'),
  ).action(async (opts: { crash?: boolean }, cmd: Command) => {
    if (opts.crash !== true) throw new CliError(CliCode.Usage, 'cli: only --crash unloads are modelled', {});
    const outcome = await withJournal(existingStateDir(cmd, io), false, lockWait(cmd), (dir) => {
      warnShared(io, dir);
      const journal = journalOrFail(dir);
      const o = withSession(journal, (s) => s.unloadCrash());
      saveJournal(dir, { ...journal, actions: [...journal.actions, { action: 'unload', crash: true }] });
      return o;
    });
    if (!outcome.ok) throw outcome.error;
    if (globalOptions(cmd).json) io.out(`${JSON.stringify({ unloaded: true }, null, 2)}\n`);
    else io.out('crash kernel unloaded\n');
  });

  state(
    program
      .command('status')
      .description('the machine, its phase and whether a rescue kernel is armed (exit 1 when not, like kexec -S)'),
  ).action((_opts: unknown, cmd: Command) => {
    const g = globalOptions(cmd);
    const journal = journalOrFail(existingStateDir(cmd, io));
    const status = withSession(journal, statusOf);
    if (g.json) io.out(`${JSON.stringify(status, null, 2)}\n`);
    else {
      io.out(
        `machine ${String(status['machine'])}, strategy ${String(status['strategy'])}, phase ${String(status['phase'])}\n`,
      );
      io.out(
        status['armed'] === null
          ? 'no rescue kernel armed\n'
          : `rescue kernel armed at ${JSON.stringify(status['armed'])}\n`,
      );
    }
    if (status['armed'] === null) requestExitStatus(cmd, 1);
  });

  state(
    program
      .command('panic')
      .description(
        'panic the host (after advancing to --at PHASE), hand off to the rescue kernel on the CPU, and optionally save its dump',
      )
      .option('--at <phase>', 'advance the host to this phase first')
      .option('--dump-dir <dir>', 'save the dump there as savecore does: vmcore.N, info.N, bounds (never overwrites)')
      .option('--dump-device <file>', 'write a dump-device image instead (kerneldumpheader, dump, kerneldumpheader)')
      .option('--format <fmt>', 'minidump (what /dev/dumper streams; default) or elf (a full dump of dump_avail)')
      .option('--compress <kind>', 'none (default), gzip or zstd')
      .option('--fault <name...>', `faults during the dump: ${DUMP_FAULTS.join(', ')}`)
      .option('--no-progress', 'no progress bar or 10% lines'),
  ).action(
    async (
      opts: {
        at?: string;
        dumpDir?: string;
        dumpDevice?: string;
        format?: string;
        compress?: string;
        fault?: string[];
        progress?: boolean;
      },
      cmd: Command,
    ) => {
      const g = globalOptions(cmd);
      const format = (opts.format ?? 'minidump') as DumpFormat;
      if (!DUMP_FORMATS.includes(format))
        throw new CliError(CliCode.Usage, `cli: --format must be minidump or elf, not "${opts.format ?? ''}"`, {});
      const compression = (opts.compress ?? 'none') as DumpCompression;
      if (!DUMP_COMPRESSIONS.includes(compression))
        throw new CliError(
          CliCode.Usage,
          `cli: --compress must be none, gzip or zstd, not "${opts.compress ?? ''}"`,
          {},
        );
      const faults = (opts.fault ?? []) as DumpFault[];
      for (const f of faults) {
        if (!DUMP_FAULTS.includes(f))
          throw new CliError(CliCode.Usage, `cli: unknown --fault "${f}" (one of ${DUMP_FAULTS.join(', ')})`, {});
      }
      const dumping = opts.dumpDir !== undefined || opts.dumpDevice !== undefined;
      if (opts.dumpDir !== undefined && opts.dumpDevice !== undefined)
        throw new CliError(CliCode.Usage, 'cli: --dump-dir and --dump-device exclude each other', {});
      if (!dumping && (opts.format !== undefined || opts.compress !== undefined || faults.length > 0))
        throw new CliError(CliCode.Usage, 'cli: --format, --compress and --fault need --dump-dir or --dump-device', {});
      const journal = journalOrFail(existingStateDir(cmd, io));
      // savecore(8) too wants the crash directory to exist; say so before the host panics
      const dumpDir =
        opts.dumpDir === undefined
          ? undefined
          : outputDirectory(opts.dumpDir, { what: 'dump directory', create: false, cwd: io.cwd });
      // what killed runs left there, said at once (a run killed in turn has said it already)
      const recovery = dumpDir === undefined ? undefined : reportRecovery(io, g.json, recoverDumpDirectory(dumpDir));
      const out = await withSessionAsync(journal, async (s) => {
        if (opts.at !== undefined) {
          const to = phaseOf(opts.at, s.phase);
          if (HOST_PHASES.indexOf(to) < HOST_PHASES.indexOf(s.phase)) {
            throw new CliError(
              CliCode.Usage,
              `cli: the host is already at ${s.phase}; --at ${to} is in the past (boot with --to ${to})`,
              {
                phase: s.phase,
                at: to,
              },
            );
          }
          s.advanceTo(to);
        }
        if (faults.includes('its') && (s.profile.arch !== 'arm64' || s.model.deviceTables.length === 0)) {
          throw new CliError(
            CliCode.Usage,
            `cli: the its fault needs an arm64 machine with a GICv3 ITS (${s.profile.name} has none)`,
            { machine: s.profile.name },
          );
        }
        const o = s.panic({ observer: probeObserver });
        if (!g.json) printPanic(io, o, s.log);
        let dump: CrashDumpResult | undefined;
        if (dumping && o.rescued) {
          const label = opts.dumpDevice !== undefined ? basename(opts.dumpDevice) : '/dev/dumper';
          const progress = progressReporter({
            label,
            tty: io.isTty,
            write: io.err,
            enabled: opts.progress !== false && !g.json,
          });
          dump = await crashDumpAsync(s, {
            ...(dumpDir === undefined ? {} : { dir: dumpDir, recover: false }),
            onInterrupted: (r) => {
              progress.end();
              io.err(
                `kboot: interrupted: the part written (${r.bytesOut} bytes) is kept as ${shownPath(io, r.vmcore)}, described in ${shownPath(io, r.info)}\n`,
              );
            },
            ...(opts.dumpDevice === undefined ? {} : { deviceImage: resolve(io.cwd, opts.dumpDevice) }),
            format,
            compression,
            faults,
            panicstring: `kboot: panic at ${s.phase}`,
            onProgress: progress.onProgress,
          });
          progress.end();
        }
        return { outcome: o, dump };
      });
      const d = out.dump;
      for (const w of dumpWarnings(d)) io.err(`kboot: warning: ${w}\n`);
      if (g.json) {
        const { observed, console: lines, ...head } = out.outcome;
        const probe = observed === undefined ? undefined : probeJson(observed);
        const dump = d === undefined ? undefined : dumpJson(d, recovery);
        io.out(`${JSON.stringify(jsonSafe({ ...head, probe, console: lines, dump }), null, 2)}\n`);
      } else if (d !== undefined) {
        printDump(io, d);
      }
      if (!out.outcome.rescued) requestExitStatus(cmd, 1);
      if (d?.save?.status === 'incomplete') requestExitStatus(cmd, 1);
    },
  );
}

/** The probe part of `kboot panic --json`: how it stopped and what its report says. */
function probeJson(p: ProbeRun): Record<string, unknown> {
  const r = p.report;
  return {
    stop: p.stop,
    ...(r === undefined ? {} : { complete: r.complete, checksum: hex(r.checksum), handoffAddr: hex(r.handoffAddr) }),
  };
}

/** Prints what a recovery did (stdout; with --json only in the final object) and its warnings (stderr). */
function reportRecovery(io: CliIo, json: boolean, r: DumpDirRecovery): DumpDirRecovery {
  const shown = (p: string): string => shownPath(io, p);
  if (!json) for (const l of recoveryLines(r, shown)) io.out(`${l}\n`);
  for (const w of recoveryWarnings(r, shown)) io.err(`kboot: warning: ${w}\n`);
  return r;
}

/** The dump part of `kboot panic --json`. */
function dumpJson(d: CrashDumpResult, recovery: DumpDirRecovery | undefined): Record<string, unknown> {
  return {
    format: d.format,
    size: d.size,
    pages: d.pages,
    ...(d.save === undefined
      ? {}
      : {
          n: d.save.n,
          vmcore: d.save.vmcore,
          info: d.save.info,
          status: d.save.status,
          ...(d.save.reason === undefined ? {} : { reason: d.save.reason, code: d.save.error?.code }),
          compression: d.save.compression,
          bytesIn: d.save.bytesIn,
          bytesOut: d.save.bytesOut,
          ms: Math.round(d.save.ms),
          warnings: d.save.warnings,
          ...(recovery === undefined
            ? {}
            : {
                recovery: {
                  recovered: recovery.recovered.map((r) => ({
                    n: r.n,
                    info: r.info,
                    ...(r.vmcore === undefined ? {} : { vmcore: r.vmcore }),
                    ...(r.keptAs === undefined ? {} : { keptAs: r.keptAs }),
                    bytes: r.bytes,
                    reason: r.reason,
                  })),
                  removed: recovery.removed,
                  kept: recovery.kept,
                  ignored: recovery.ignored,
                },
              }),
        }),
    ...(d.device === undefined ? {} : { device: d.device }),
    changedPages: d.watch.changed.map((c) => ({ pa: hex(c.pa), when: c.when })),
    devices: d.watch.devices.map((x) => ({ name: x.name, pages: x.pages.map((p) => hex(p)) })),
  };
}

/** Paths as the user would type them: relative to the working directory when inside it. */
function shownPath(io: CliIo, p: string): string {
  const r = relative(io.cwd, p);
  return r.startsWith('..') || isAbsolute(r) ? p : r;
}

/** What the user should know about the dump directory (stderr, one line each). */
function dumpWarnings(d: CrashDumpResult | undefined): readonly string[] {
  return d?.save?.warnings ?? [];
}

function printDump(io: CliIo, d: CrashDumpResult): void {
  const shown = (p: string): string => shownPath(io, p);
  if (d.save !== undefined) {
    io.out(
      `${summaryLine({ file: shown(d.save.vmcore), bytesIn: d.save.bytesIn, bytesOut: d.save.bytesOut, pages: d.pages, ms: d.save.ms, status: d.save.status })}\n`,
    );
    io.out(`info: ${shown(d.save.info)}\n`);
    if (d.save.reason !== undefined) io.out(`incomplete: ${d.save.reason}\n`);
  }
  if (d.device !== undefined) io.out(`dump device image: ${shown(d.device.path)} (${d.device.size} bytes)\n`);
  for (const dev of d.watch.devices) io.out(`still writing during the dump: ${dev.name}: ${dev.pages.length} pages\n`);
  if (d.watch.changed.length > 0) {
    const shown = d.watch.changed.slice(0, 8).map((c) => `${hex(c.pa)} (${c.when})`);
    io.out(
      `pages changed while dumping: ${d.watch.changed.length}: ${shown.join(', ')}${d.watch.changed.length > 8 ? ', ...' : ''}\n`,
    );
  } else if (d.watch.watchedPages > 0) {
    io.out(`pages changed while dumping: none of ${d.watch.watchedPages}\n`);
  }
}
