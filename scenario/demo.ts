/**
 * The demo: the whole job once, every step named as it happens — build a probe rescue kernel
 * (kernels/probe), boot the arch's default machine (amd64-efi / arm64-fdt) with the kexec
 * strategy, arm it as `kboot load --crash` does (kexec_load from userspace), panic the host
 * and run the D47358 hand-off on the CPU, stream the rescue kernel's /dev/dumper into
 * OUT/vmcore.N (rescue/crash-dump.ts; savecore never overwrites, so an existing vmcore.0
 * makes this one vmcore.1 and the narration names the file written), read the dump back
 * (dump/open.ts openDump) and compare 100 random dumped pages with guest RAM at the panic,
 * then compare embed, KLD and kexec on the same machine (compare/run.ts), and name the three
 * commands that do the same with one's own kernel.
 *
 * Contract: OUT is created if missing (loader/io/output.ts outputDirectory); the probe kernel
 * is written to OUT/rescue-probe.elf (replacing the demo's own earlier one). Nothing is
 * printed here: each line of narration goes to `say`, the dump's progress to `dumpProgress`,
 * compare's progress lines to `onCompareProgress` and the finished comparison to
 * `onCompare` (before the closing lines). Every figure in the report comes from the session
 * and the comparison that ran. A failed load or hand-off is its MachineError; a dump that is
 * incomplete or does not read back exactly is reported (`dump.status`, `verify`), not thrown.
 * The report is what `kboot demo --json` prints (schemas/demo.schema.json).
 */
import { join, relative } from 'node:path';
import { alignDown, hex, phys, SZ_4K, toNumber } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { SeededRandom } from '../loader/bytes/prng.js';
import { outputDirectory, writeNewFile } from '../loader/io/output.js';
import { defaultProfileName, loadProfile, type MachineProfile } from '../loader/plan/profile.js';
import { buildProbeKernel, probeChecksum, probeEntryVa } from '../kernels/probe/index.js';
import { MachineCode, MachineError } from '../machine/errors.js';
import { HOST_PHASES } from '../machine/host/timeline.js';
import { HostSession, type PanicOutcome } from '../machine/session.js';
import { openDumpFile } from '../dump/file.js';
import { openDump } from '../dump/open.js';
import { summaryLine } from '../dump/progress.js';
import { crashDump, type CrashDumpResult } from '../rescue/crash-dump.js';
import { probeObserver, type ProbeRun } from '../rescue/probe-observer.js';
import { runCompare, type CompareReport } from '../compare/index.js';

/** Pages sampled at the panic and read back from the dump. */
export const DEMO_SAMPLE_PAGES = 100;
const PAGE = toNumber(SZ_4K);
const STEPS = 7;

/** What `runDemo` returns and `kboot demo --json` prints (schemas/demo.schema.json). */
export interface DemoReport {
  readonly arch: Arch;
  readonly machine: string;
  readonly out: string;
  readonly kernel: { readonly file: string; readonly size: number; readonly entry: string };
  readonly armed: { readonly phase: string; readonly how: string; readonly reservation: string };
  readonly handoff: {
    readonly rescued: boolean;
    readonly instructions: number;
    readonly ms: number;
    readonly probeComplete: boolean;
    readonly console: readonly string[];
  };
  readonly dump: {
    readonly vmcore: string;
    readonly info: string;
    readonly n: number;
    readonly status: string;
    readonly size: number;
    readonly pages: number;
    readonly ms: number;
  };
  readonly verify: { readonly sampled: number; readonly identical: number; readonly mismatches: readonly string[] };
  readonly compare: CompareReport;
  readonly next: readonly string[];
  readonly elapsedMs: number;
}

/** How to run the demo and where its narration goes (see the module contract). */
export interface DemoOptions {
  readonly arch: Arch;
  /** Where the probe kernel and the dump go. */
  readonly outDir: string;
  /** Paths in the narration are shown relative to this directory (default: the process's). */
  readonly cwd?: string;
  /** One line of narration, as it happens. */
  readonly say?: (line: string) => void;
  /** The dump's progress (crashDump's `onProgress`), and `end()` once the dump is over. */
  readonly dumpProgress?: { onProgress(done: bigint, total: bigint): void; end(): void };
  /** compare's progress lines. */
  readonly onCompareProgress?: (line: string) => void;
  /** The finished comparison, before the closing lines (the CLI prints its table). */
  readonly onCompare?: (report: CompareReport) => void;
}

/** What every step sees: the options, the machine profile, the narration and its clock. */
interface DemoRun {
  readonly opts: DemoOptions;
  readonly profile: MachineProfile;
  readonly say: (line: string) => void;
  readonly shown: (path: string) => string;
  /** Starts the next numbered step. */
  step(what: string): void;
  /** Time since the step started, as "0.25 s". */
  took(): string;
}

function startRun(opts: DemoOptions): DemoRun {
  const say = opts.say ?? ((): void => undefined);
  const cwd = opts.cwd ?? process.cwd();
  let n = 0;
  let stepAt = performance.now();
  return {
    opts,
    profile: loadProfile(defaultProfileName(opts.arch)),
    say,
    shown: (p) => relative(cwd, p) || '.',
    step(what) {
      n++;
      stepAt = performance.now();
      say(`[${n}/${STEPS}] ${what}`);
    },
    took: () => `${((performance.now() - stepAt) / 1000).toFixed(2)} s`,
  };
}

/** Step 1: the probe rescue kernel, written to OUT/rescue-probe.elf. */
function buildRescue(run: DemoRun): { readonly rescue: Uint8Array; readonly kernelPath: string } {
  const { profile, opts, shown } = run;
  run.step('build a probe rescue kernel (kboot probe-kernel --mode rescue)');
  const rescue = buildProbeKernel(opts.arch, {
    mode: 'rescue',
    ...(profile.uart.kind === 'pl011' ? { uartBase: profile.uart.base } : {}),
  });
  const kernelPath = join(opts.outDir, 'rescue-probe.elf');
  writeNewFile(kernelPath, rescue, { shown: shown(kernelPath), replace: true, what: 'probe kernel' });
  run.say(`      ${shown(kernelPath)}: ${rescue.length} bytes, entry ${hex(probeEntryVa(opts.arch))} (${run.took()})`);
  return { rescue, kernelPath };
}

/** Says the session's log lines not said yet. */
function logFlusher(run: DemoRun, s: HostSession): () => void {
  let said = 0;
  return () => {
    for (const line of s.log.slice(said)) run.say(`      ${line}`);
    said = s.log.length;
  };
}

/** Step 2: boot the host through every phase to `running`. */
function bootHost(run: DemoRun, rescue: Uint8Array): { readonly s: HostSession; readonly flush: () => void } {
  run.step(`boot machine ${run.profile.name}, strategy kexec (kboot boot --strategy kexec)`);
  const s = HostSession.boot({ profile: run.profile, strategy: 'kexec', rescue, rescueName: 'rescue-probe.elf' });
  const flush = logFlusher(run, s);
  try {
    flush();
    for (const phase of HOST_PHASES.slice(1)) {
      s.advanceTo(phase);
      flush();
    }
  } catch (e) {
    s.close();
    throw e;
  }
  run.say(`      host running (${run.took()})`);
  return { s, flush };
}

/** Step 3: kexec_load with KEXEC_ON_CRASH from the host's userspace. */
function armFromUserspace(run: DemoRun, s: HostSession, flush: () => void, rescue: Uint8Array): DemoReport['armed'] {
  run.step('arm the rescue kernel from userspace (kboot load --crash: kexec_load with KEXEC_ON_CRASH)');
  const load = s.loadCrash(rescue);
  flush();
  if (!load.ok) throw load.error;
  const armed = s.armed;
  if (armed === undefined) {
    throw new MachineError(MachineCode.HostModel, 'machine: kexec_load succeeded but nothing is armed', {});
  }
  const region = s.expected.region;
  const reservation = `${hex(region.start)}+${hex(region.size)}`;
  run.say(`      armed at ${armed.phase}: ${armed.how}, reservation ${reservation}`);
  return { phase: armed.phase, how: armed.how, reservation };
}

/** Step 4: the panic and the hand-off on the CPU, with the probe kernel's report. */
function panicAndHandOff(run: DemoRun, s: HostSession, flush: () => void, rescue: Uint8Array): DemoReport['handoff'] {
  run.step('panic the host: rescue_kernel_exec hands off to the rescue kernel on the CPU (kboot panic)');
  const out: PanicOutcome<ProbeRun> = s.panic({ observer: probeObserver });
  flush();
  if (!out.rescued || out.jump === undefined) {
    throw new MachineError(
      MachineCode.JumpFailed,
      `machine: the panic was not rescued (${out.reason ?? 'jump failed'})`,
      {
        reason: out.reason,
      },
    );
  }
  const report = out.observed?.report;
  const checksumOk = report !== undefined && report.checksum === probeChecksum(rescue);
  const stop = out.jump.stop;
  run.say(
    `      rescue kernel entered at ${hex(out.jump.stopAt)} after ${stop.executed} instructions (${stop.elapsedMs.toFixed(1)} ms)`,
  );
  run.say(
    `      probe report: ${report?.complete === true ? 'complete' : 'INCOMPLETE'}, image checksum ${checksumOk ? 'matches the file' : 'DIFFERS'}`,
  );
  for (const line of out.console) run.say(`      console: ${line}`);
  return {
    rescued: out.rescued,
    instructions: stop.executed,
    ms: Math.round(stop.elapsedMs * 10) / 10,
    probeComplete: report?.complete === true,
    console: out.console,
  };
}

/** One page of guest RAM as it was at the panic. */
interface SampledPage {
  readonly pa: bigint;
  readonly bytes: Uint8Array;
}

/**
 * Guest RAM at the panic: DEMO_SAMPLE_PAGES random pages the host marks for dumping (UMA
 * pages, and every fifth from the kernel image), with a fixed seed.
 */
function samplePages(s: HostSession): SampledPage[] {
  const rnd = new SeededRandom(42n, 7n);
  const pool = s.model.allocated;
  const image = s.model.kernel.image;
  const imageStart = alignDown(image.start, SZ_4K);
  const imagePages = image.size / SZ_4K;
  const picked = new Set<bigint>();
  while (picked.size < DEMO_SAMPLE_PAGES) {
    const fromImage = picked.size % 5 === 0 && imagePages > 0n;
    const pa = fromImage
      ? imageStart + rnd.below(imagePages) * SZ_4K
      : (pool[Number(rnd.below(BigInt(pool.length)))] ?? image.start);
    picked.add(pa);
  }
  return [...picked].map((pa) => ({ pa, bytes: s.machine.ram.read(phys(pa), PAGE) }));
}

/** Step 5: the rescue kernel's /dev/dumper saved into OUT as savecore(8) does. */
function saveDump(
  run: DemoRun,
  s: HostSession,
): CrashDumpResult & { readonly save: NonNullable<CrashDumpResult['save']> } {
  const { shown, opts } = run;
  run.step(`write the dump: the rescue kernel's /dev/dumper into ${shown(opts.outDir)} as savecore(8) does`);
  const dump = crashDump(s, {
    dir: opts.outDir,
    panicstring: `kboot demo: panic at ${s.phase}`,
    ...(opts.dumpProgress === undefined ? {} : { onProgress: opts.dumpProgress.onProgress }),
  });
  opts.dumpProgress?.end();
  const save = dump.save;
  if (save === undefined) throw new MachineError(MachineCode.HostModel, 'machine: the dump was not saved', {});
  if (save.n > 0) {
    run.say(
      `      ${shown(opts.outDir)} already holds vmcore.0: savecore never overwrites, so this dump is vmcore.${save.n}`,
    );
  }
  const { bytesIn, bytesOut, ms, status } = save;
  run.say(`      ${summaryLine({ file: shown(save.vmcore), bytesIn, bytesOut, pages: dump.pages, ms, status })}`);
  run.say(`      ${shown(save.info)}: the kerneldumpheader facts, as savecore writes them`);
  return { ...dump, save };
}

/** Step 6: the dump read back; the sampled pages compared with it. Returns the mismatches. */
function verifyDump(run: DemoRun, vmcore: string, status: string, samples: readonly SampledPage[]): string[] {
  run.step(
    `read ${run.shown(vmcore)} back and compare ${DEMO_SAMPLE_PAGES} random dumped pages with guest RAM at the panic`,
  );
  const mismatches: string[] = [];
  const f = openDumpFile(vmcore);
  try {
    const d = openDump(f);
    for (const x of samples) {
      try {
        const got = d.readPa(x.pa, PAGE);
        if (!Buffer.from(got).equals(Buffer.from(x.bytes))) mismatches.push(`${hex(x.pa)}: bytes differ`);
      } catch (e) {
        mismatches.push(`${hex(x.pa)}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    run.say(
      `      ${d.kind} (${d.arch}), ${d.kind === 'minidump' ? `${d.reader.pages} pages, ` : ''}` +
        `${samples.length - mismatches.length}/${samples.length} sampled pages identical to guest RAM at the panic`,
    );
  } finally {
    f.close();
  }
  for (const m of mismatches.slice(0, 10)) run.say(`      MISMATCH ${m}`);
  if (mismatches.length === 0 && status === 'good') run.say(`      ${run.shown(vmcore)} verified (${run.took()})`);
  return mismatches;
}

/** Step 7: embed, KLD and kexec through compare's scenarios on the same machine. */
async function compareStrategies(run: DemoRun, rescue: Uint8Array, kernelPath: string): Promise<CompareReport> {
  run.step(`compare embed, KLD and kexec on ${run.profile.name} (kboot compare)`);
  const onProgress = run.opts.onCompareProgress;
  const report = await runCompare({
    rescue,
    file: run.shown(kernelPath),
    profiles: [run.profile],
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  run.opts.onCompare?.(report);
  return report;
}

/** The closing lines: how long it took, whether the dump verified, and what to run next. */
function closing(run: DemoRun, vmcore: string, verified: boolean, elapsedMs: number): string[] {
  const next = [
    `kboot boot --machine ${run.profile.name} --strategy kexec --rescue your-rescue.elf`,
    'kboot load --crash your-rescue.elf',
    'kboot panic --dump-dir DIR',
  ];
  run.say('');
  run.say(
    `kboot demo: done in ${(elapsedMs / 1000).toFixed(1)} s; ${run.shown(vmcore)} ${verified ? 'verified' : 'NOT verified'}.`,
  );
  run.say('To do the same with your own FreeBSD rescue kernel (options RESCUE):');
  for (const c of next) run.say(`  ${c}`);
  run.say('(in a clone of kboot, `npm link` puts kboot on your PATH; or run node dist/cli/main.js)');
  return next;
}

/** Runs the demo (see the module contract). */
export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const t0 = performance.now();
  const run = startRun(opts);
  run.say(`kboot demo: ${opts.arch} on machine ${run.profile.name}, output in ${run.shown(opts.outDir)}`);
  outputDirectory(opts.outDir, { what: 'demo output directory', create: true, writable: true });
  const { rescue, kernelPath } = buildRescue(run);
  const { s, flush } = bootHost(run, rescue);
  try {
    const armed = armFromUserspace(run, s, flush, rescue);
    const handoff = panicAndHandOff(run, s, flush, rescue);
    const samples = samplePages(s);
    const dump = saveDump(run, s);
    const { save } = dump;
    const mismatches = verifyDump(run, save.vmcore, save.status, samples);
    const compare = await compareStrategies(run, rescue, kernelPath);
    const elapsedMs = performance.now() - t0;
    const next = closing(run, save.vmcore, mismatches.length === 0 && save.status === 'good', elapsedMs);
    return {
      arch: opts.arch,
      machine: run.profile.name,
      out: opts.outDir,
      kernel: { file: kernelPath, size: rescue.length, entry: hex(probeEntryVa(opts.arch)) },
      armed,
      handoff,
      dump: {
        vmcore: save.vmcore,
        info: save.info,
        n: save.n,
        status: save.status,
        size: Number(dump.size),
        pages: dump.pages,
        ms: Math.round(save.ms * 10) / 10,
      },
      verify: { sampled: samples.length, identical: samples.length - mismatches.length, mismatches },
      compare,
      next,
      elapsedMs: Math.round(elapsedMs),
    };
  } finally {
    s.close();
  }
}
