/**
 * `kboot demo [--arch amd64|arm64] [--out DIR] [--json]`: the whole job once, every step named
 * on the terminal as it happens — build a probe rescue kernel (kernels/probe), boot the arch's
 * default machine (amd64-efi / arm64-fdt) with the kexec strategy, arm it as `kboot load
 * --crash` does (kexec_load from userspace), panic the host and run the D47358 hand-off on
 * the CPU, stream the rescue kernel's /dev/dumper into DIR/vmcore.N with progress
 * (rescue/crash-dump.ts; savecore never overwrites, so an existing vmcore.0 makes this one
 * vmcore.1 and the demo names the file it wrote), read the dump back (dump/open.ts openDump)
 * and compare 100 random dumped pages with guest RAM at the panic, then run `kboot compare`
 * on the same machine and print its table, and tell the three commands that do the same with
 * the user's own kernel.
 *
 * Contract: DIR (default ./kboot-demo) is created if missing (loader/io/output.ts
 * outputDirectory: a file, a device or a directory where nothing can be created is an IoError,
 * exit 1, before anything runs); the probe kernel is written to
 * DIR/rescue-probe.elf (replacing the demo's own earlier one). With --json the steps go to
 * stderr and stdout carries one object valid against schemas/demo.schema.json. A dump that
 * is incomplete or does not read back exactly ends with exit status 1 after the report; a
 * failed load or hand-off is its KbootError.
 */
import type { Command } from 'commander';
import { join, relative } from 'node:path';
import { hex, type PhysAddr } from '../../loader/addr.js';
import { ARCHES, type Arch } from '../../loader/arch/index.js';
import type { CompareReport } from '../../compare/index.js';
import { outputDirectory, writeNewFile } from '../../loader/io/output.js';
import type { CliIo } from '../io.js';
import { globalOptions, requestExitStatus } from '../context.js';
import { CliCode, CliError } from '../errors.js';
import { MachineCode, MachineError } from '../../machine/errors.js';

/** Pages sampled at the panic and read back from the dump. */
export const DEMO_SAMPLE_PAGES = 100;
const PAGE = 4096;

/** What `kboot demo --json` prints (schemas/demo.schema.json). */
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

/** Registers `kboot demo`. */
export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description(
      'the whole job, every step shown: build a probe rescue kernel, boot, arm with kexec_load, panic, hand off on the CPU, dump, verify the dump, compare the strategies',
    )
    .option('--arch <arch>', `amd64 or arm64 (default amd64)`)
    .option('--out <dir>', 'where the kernel and the dump go (default ./kboot-demo)')
    .action(async (opts: { arch?: string; out?: string }, cmd: Command) => {
      const g = globalOptions(cmd);
      const arch = ARCHES.find((a) => a === (opts.arch ?? 'amd64'));
      if (arch === undefined) {
        throw new CliError(CliCode.Usage, `cli: --arch must be ${ARCHES.join(' or ')}, not "${opts.arch ?? ''}"`, {
          arch: opts.arch,
        });
      }
      const out = outputDirectory(opts.out ?? 'kboot-demo', {
        what: 'demo output directory',
        create: true,
        writable: true,
        cwd: io.cwd,
      });
      const report = await runDemo(arch, out, io, g.json);
      if (g.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
      if (report.dump.status !== 'good' || report.verify.identical !== report.verify.sampled) requestExitStatus(cmd, 1);
    });
}

/** Runs the demo (see the module contract); narration on stdout, or stderr with `json`. */
export async function runDemo(arch: Arch, outDir: string, io: CliIo, json: boolean): Promise<DemoReport> {
  const say = (text: string): void => (json ? io.err(`${text}\n`) : io.out(`${text}\n`));
  const t0 = performance.now();
  const [
    { defaultProfileName, loadProfile },
    { buildProbeKernel, probeEntryVa, probeChecksum },
    { HostSession },
    { HOST_PHASES },
    { crashDump },
    { probeObserver },
    { progressReporter, summaryLine },
    { openDumpFile },
    { openDump },
    { SeededRandom },
    compare,
  ] = await Promise.all([
    import('../../loader/plan/profile.js'),
    import('../../kernels/probe/index.js'),
    import('../../machine/session.js'),
    import('../../machine/host/timeline.js'),
    import('../../rescue/crash-dump.js'),
    import('../../rescue/probe-observer.js'),
    import('../../dump/progress.js'),
    import('../../dump/file.js'),
    import('../../dump/open.js'),
    import('../../loader/bytes/prng.js'),
    import('../../compare/index.js'),
  ]);
  const profile = loadProfile(defaultProfileName(arch));
  const shown = (p: string): string => relative(io.cwd, p) || '.';
  const steps = 7;
  let n = 0;
  let stepAt = performance.now();
  const step = (what: string): void => {
    n++;
    stepAt = performance.now();
    say(`[${n}/${steps}] ${what}`);
  };
  const took = (): string => `${((performance.now() - stepAt) / 1000).toFixed(2)} s`;
  say(`kboot demo: ${arch} on machine ${profile.name}, output in ${shown(outDir)}`);
  outputDirectory(outDir, { what: 'demo output directory', create: true, writable: true });

  // 1. the rescue kernel
  step('build a probe rescue kernel (kboot probe-kernel --mode rescue)');
  const rescue = buildProbeKernel(arch, {
    mode: 'rescue',
    ...(profile.uart.kind === 'pl011' ? { uartBase: profile.uart.base } : {}),
  });
  const kernelPath = join(outDir, 'rescue-probe.elf');
  writeNewFile(kernelPath, rescue, { shown: shown(kernelPath), replace: true, what: 'probe kernel' });
  say(`      ${shown(kernelPath)}: ${rescue.length} bytes, entry ${hex(probeEntryVa(arch))} (${took()})`);

  // 2. boot
  step(`boot machine ${profile.name}, strategy kexec (kboot boot --strategy kexec)`);
  const s = HostSession.boot({ profile, strategy: 'kexec', rescue, rescueName: 'rescue-probe.elf' });
  try {
    let shownLog = 0;
    const flush = (): void => {
      for (const line of s.log.slice(shownLog)) say(`      ${line}`);
      shownLog = s.log.length;
    };
    flush();
    for (const phase of HOST_PHASES.slice(1)) {
      s.advanceTo(phase);
      flush();
    }
    say(`      host running (${took()})`);

    // 3. arm
    step('arm the rescue kernel from userspace (kboot load --crash: kexec_load with KEXEC_ON_CRASH)');
    const load = s.loadCrash(rescue);
    flush();
    if (!load.ok) throw load.error;
    const armed = s.armed;
    if (armed === undefined) {
      throw new MachineError(MachineCode.HostModel, 'machine: kexec_load succeeded but nothing is armed', {});
    }
    const region = s.expected.region;
    say(`      armed at ${armed.phase}: ${armed.how}, reservation ${hex(region.start)}+${hex(region.size)}`);

    // 4. panic and hand off
    step('panic the host: rescue_kernel_exec hands off to the rescue kernel on the CPU (kboot panic)');
    const out = s.panic({ observer: probeObserver });
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
    say(
      `      rescue kernel entered at ${hex(out.jump.stopAt)} after ${out.jump.stop.executed} instructions (${out.jump.stop.elapsedMs.toFixed(1)} ms)`,
    );
    say(
      `      probe report: ${report?.complete === true ? 'complete' : 'INCOMPLETE'}, image checksum ${checksumOk ? 'matches the file' : 'DIFFERS'}`,
    );
    for (const line of out.console) say(`      console: ${line}`);
    // guest RAM at the panic: 100 random pages the host marks for dumping (UMA pages and kernel image)
    const rnd = new SeededRandom(42n, 7n);
    const pool = s.model.allocated;
    const image = s.model.kernel.image;
    const imagePages = Number(image.size / BigInt(PAGE));
    const picked = new Set<bigint>();
    while (picked.size < DEMO_SAMPLE_PAGES) {
      const fromImage = picked.size % 5 === 0 && imagePages > 0;
      const pa = fromImage
        ? (image.start & ~0xfffn) + rnd.below(BigInt(imagePages)) * BigInt(PAGE)
        : (pool[Number(rnd.below(BigInt(pool.length)))] ?? image.start);
      picked.add(pa);
    }
    const samples = [...picked].map((pa) => ({ pa, bytes: s.machine.ram.read(pa as PhysAddr, PAGE) }));

    // 5. dump
    step(`write the dump: the rescue kernel's /dev/dumper into ${shown(outDir)} as savecore(8) does`);
    const progress = progressReporter({ label: '/dev/dumper', tty: io.isTty, write: io.err, enabled: !json });
    const dump = crashDump(s, {
      dir: outDir,
      panicstring: `kboot demo: panic at ${s.phase}`,
      onProgress: progress.onProgress,
    });
    progress.end();
    const save = dump.save;
    if (save === undefined) {
      throw new MachineError(MachineCode.HostModel, 'machine: the dump was not saved', {});
    }
    if (save.n > 0) {
      say(`      ${shown(outDir)} already holds vmcore.0: savecore never overwrites, so this dump is vmcore.${save.n}`);
    }
    say(
      `      ${summaryLine({ file: shown(save.vmcore), bytesIn: save.bytesIn, bytesOut: save.bytesOut, pages: dump.pages, ms: save.ms, status: save.status })}`,
    );
    say(`      ${shown(save.info)}: the kerneldumpheader facts, as savecore writes them`);

    // 6. verify
    step(
      `read ${shown(save.vmcore)} back and compare ${DEMO_SAMPLE_PAGES} random dumped pages with guest RAM at the panic`,
    );
    const mismatches: string[] = [];
    const f = openDumpFile(save.vmcore);
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
      say(
        `      ${d.kind} (${d.arch}), ${d.kind === 'minidump' ? `${d.reader.pages} pages, ` : ''}` +
          `${samples.length - mismatches.length}/${samples.length} sampled pages identical to guest RAM at the panic`,
      );
    } finally {
      f.close();
    }
    for (const m of mismatches.slice(0, 10)) say(`      MISMATCH ${m}`);
    if (mismatches.length === 0 && save.status === 'good') say(`      ${shown(save.vmcore)} verified (${took()})`);

    // 7. compare
    step(`compare embed, KLD and kexec on ${profile.name} (kboot compare)`);
    const cmp = await compare.runCompare({
      rescue,
      file: shown(kernelPath),
      profiles: [profile],
      onProgress: (line) => io.err(`      compare: ${line}\n`),
    });
    if (!json) io.out(compare.formatCompareTable(cmp));

    const next = [
      `kboot boot --machine ${profile.name} --strategy kexec --rescue your-rescue.elf`,
      'kboot load --crash your-rescue.elf',
      'kboot panic --dump-dir DIR',
    ];
    const elapsedMs = performance.now() - t0;
    say('');
    say(
      `kboot demo: done in ${(elapsedMs / 1000).toFixed(1)} s; ${shown(save.vmcore)} ${mismatches.length === 0 && save.status === 'good' ? 'verified' : 'NOT verified'}.`,
    );
    say('To do the same with your own FreeBSD rescue kernel (options RESCUE):');
    for (const c of next) say(`  ${c}`);
    say('(in a clone of kboot, `npm link` puts kboot on your PATH; or run node dist/cli/main.js)');
    return {
      arch,
      machine: profile.name,
      out: outDir,
      kernel: { file: kernelPath, size: rescue.length, entry: hex(probeEntryVa(arch)) },
      armed: { phase: armed.phase, how: armed.how, reservation: `${hex(region.start)}+${hex(region.size)}` },
      handoff: {
        rescued: out.rescued,
        instructions: out.jump.stop.executed,
        ms: Math.round(out.jump.stop.elapsedMs * 10) / 10,
        probeComplete: report?.complete === true,
        console: out.console,
      },
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
      compare: cmp,
      next,
      elapsedMs: Math.round(elapsedMs),
    };
  } finally {
    s.close();
  }
}
