// The probe kernels run for real on Unicorn 2.0.1 (libunicorn-dev, the CPU kboot's machine
// uses), through the small C harness beside this file (built with gcc), until machine/ can
// run them itself. For both arches and both modes: the run ends in the halt loop
// (hlt / wfi, UC_ERR_OK), the console line carries the checksum `probeChecksum` computes from
// the ELF, and the report decoded with `decodeProbeReport` is complete and holds the
// registers, boot arguments and hand-off bytes the harness set up (see the harness header).
// In rescue mode the harness is also given a full struct rescue_kernel_params (encoded by
// encodeRescueParams) with a kenv and firmware maps behind it: the report must hold the
// params, the kenv capped at 256 bytes (or nothing for a zero kp_kenvstart) and the firmware
// map rescue_preload_init would pick (first choice, else second), capped at its length.
// Skips only when gcc or the Unicorn headers/library are missing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../loader/paths.js';
import {
  buildProbeKernel,
  decodeProbeReport,
  probeChecksum,
  probeEntryVa,
  probeReportVa,
  type ProbeMode,
} from '../../kernels/probe/index.js';
import type { Arch } from '../../loader/arch/index.js';
import { encodeRescueParams, type RescueKernelParams } from '../../loader/handoff/params.js';
import {
  PROBE_FIRMWARE_SOURCES,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_REPORT_OFFSET,
  ProbeReportLayout,
} from '../../kernels/probe/index.js';
import { missingTools } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-probe-unicorn-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const source = packagePath('test', 'external', 'probe-unicorn-harness.c');
const harness = join(dir, 'unicorn-harness');

function build(): string | false {
  const missing = missingTools('unicorn.h', 'gcc');
  if (missing !== undefined) return missing;
  const r = spawnSync('gcc', ['-O1', '-o', harness, source, '-lunicorn'], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`the harness does not build: ${r.stderr}`);
  return false;
}
const skip = build();

/** What the harness lays out (its header comment), per arch. */
const SETUP = {
  amd64: { reservation: 0x100_0000n, modulep: 0x60_0000n, kernend: 0x5678n, cr3: 0x1_0000n },
  arm64: { reservation: 0x4100_0000n },
} as const;
const KB: Record<Arch, bigint> = { amd64: 0xffff_ffff_8000_0000n, arm64: 0xffff_0000_0000_0000n };

for (const arch of ['amd64', 'arm64'] as const) {
  for (const mode of ['rescue', 'kexec'] as const satisfies readonly ProbeMode[]) {
    t.test(`${arch} probe, ${mode} entry, on Unicorn`, { skip }, async (t) => {
      const elf = buildProbeKernel(arch, { mode });
      const elfFile = join(dir, `probe-${arch}-${mode}.elf`);
      const reportFile = join(dir, `report-${arch}-${mode}.bin`);
      writeFileSync(elfFile, elf);
      const r = spawnSync(harness, [arch, elfFile, mode, reportFile], { encoding: 'utf8', timeout: 30_000 });
      t.equal(r.status, 0, r.stderr);
      const sum = probeChecksum(elf);
      t.match(r.stdout, /^stop OK \(UC_ERR_OK\) 0x[0-9a-f]+$/m, 'stopped by hlt/wfi, no fault');
      t.match(
        r.stdout,
        `uart kboot probe: ok arch=${arch} mode=${mode} checksum=0x${sum.toString(16).padStart(16, '0')}\n`,
        'the console line',
      );
      const rep = decodeProbeReport(readFileSync(reportFile));
      t.ok(rep.complete, 'every stage finished');
      t.equal(rep.arch, arch);
      t.equal(rep.mode, mode);
      t.equal(rep.checksum, sum, 'checksum = probeChecksum(ELF)');
      const loadPa = arch === 'amd64' ? 0n : SETUP.arm64.reservation + 0x20_0000n;
      const base = arch === 'amd64' ? probeEntryVa(arch) : loadPa + 0x1000n;
      t.equal(rep.entryPc, base, 'ran at its link VA (amd64) / load PA + 0x1000 (arm64)');
      t.equal(rep.checksumRange.start, base);
      t.equal(rep.handoff[0], mode === 'rescue' ? 0xa0 : 0x10, 'hand-off bytes');
      t.equal(rep.handoff[63], mode === 'rescue' ? 0xdf : 0x4f);
      if (arch === 'amd64') {
        const s = SETUP.amd64;
        t.equal(rep.regs['rax'], 0x1000n);
        t.equal(rep.regs['r15'], 0x100fn);
        t.equal(rep.regs['rsp'], 0x8_0000n);
        t.same(rep.bootArgs, [s.modulep, s.kernend], 'modulep and kernend from the stack');
        t.equal(rep.sys['cr3'], s.cr3);
        t.equal(rep.ptRoot, s.cr3);
        t.equal(rep.sys['efer'], 0x500n, 'EFER: LME|LMA');
        t.equal(rep.handoffAddr, mode === 'rescue' ? KB.amd64 : KB.amd64 + s.modulep);
      } else {
        t.equal(rep.regs['x1'], 0x1001n);
        t.equal(rep.regs['x30'], 0x101en);
        t.equal(rep.regs['sp'], 0x4008_0000n);
        const x0 = mode === 'rescue' ? KB.arm64 + 0x800_0000n : KB.arm64 + 0x40_0000n;
        t.equal(rep.regs['x0'], x0);
        t.same(rep.bootArgs, [x0, 0n]);
        t.equal(rep.sys['currentel'], 0x4n, 'EL1');
        t.equal(rep.handoffAddr, mode === 'rescue' ? SETUP.arm64.reservation : loadPa + 0x40_0000n);
      }
      t.equal(rep.uartBase, arch === 'amd64' ? 0x3f8n : 0x900_0000n);
      t.ok(probeReportVa(arch) > 0n);
    });
  }
}

/** `PA=HEXBYTES` for the harness. */
const poke = (pa: bigint, bytes: Uint8Array): string => `${pa.toString(16)}=${Buffer.from(bytes).toString('hex')}`;

for (const arch of ['amd64', 'arm64'] as const) {
  for (const choice of [0, 1] as const) {
    t.test(`${arch} probe follows the params (firmware choice ${choice}) on Unicorn`, { skip }, async (t) => {
      const rpa = arch === 'amd64' ? SETUP.amd64.reservation : SETUP.arm64.reservation;
      const src = PROBE_FIRMWARE_SOURCES[arch][choice];
      if (src === undefined) throw new Error('no such firmware source');
      // choice 0: a 300-byte kenv (capped at 256) and the first-choice map;
      // choice 1: no kenv (kp_kenvstart 0) and only the second-choice map
      const kenv = Uint8Array.from({ length: 300 }, (_, i) => (i % 10 === 9 ? 0 : 0x61 + (i % 10)));
      const fw = Uint8Array.from({ length: 24 }, (_, i) => 0xc0 + i);
      const kenvPa = rpa + 0x400n;
      const fwPa = rpa + 0x200n;
      const values: Record<string, bigint> = {
        dpMsgbufpa: 0x1234n,
        kpKernstart: rpa + 0x20_0000n,
        [src.start]: fwPa,
        [src.len]: BigInt(fw.length),
        ...(choice === 0 ? { kpKenvstart: kenvPa, kpKenvlen: BigInt(kenv.length) } : { kpKenvlen: 9n }),
      };
      const params = encodeRescueParams<Arch>(arch, values as Partial<RescueKernelParams<Arch>>);
      const elf = buildProbeKernel(arch, { mode: 'rescue' });
      const elfFile = join(dir, `probe-${arch}-follow-${choice}.elf`);
      const reportFile = join(dir, `report-${arch}-follow-${choice}.bin`);
      writeFileSync(elfFile, elf);
      // garbage over the report's followed areas, so the probe's zero-fill is what clears them
      const dirty = poke(
        rpa + 0x20_0000n + BigInt(PROBE_REPORT_OFFSET + PROBE_FOLLOW_START),
        new Uint8Array(ProbeReportLayout.size - PROBE_FOLLOW_START).fill(0xee),
      );
      const r = spawnSync(
        harness,
        [arch, elfFile, 'rescue', reportFile, poke(rpa, params), poke(kenvPa, kenv), poke(fwPa, fw), dirty],
        { encoding: 'utf8', timeout: 30_000 },
      );
      t.equal(r.status, 0, r.stderr);
      t.match(r.stdout, /^stop OK \(UC_ERR_OK\) 0x[0-9a-f]+$/m, 'stopped by hlt/wfi, no fault');
      const rep = decodeProbeReport(readFileSync(reportFile));
      t.ok(rep.complete && rep.stages.params, 'every stage finished');
      t.same([...rep.params], [...params], 'the whole struct rescue_kernel_params');
      t.same([...rep.handoff], [...params.subarray(0, 64)], 'the hand-off words are its first 64 bytes');
      if (choice === 0) {
        t.equal(rep.kenvAddr, kenvPa);
        t.same([...rep.kenv], [...kenv.subarray(0, PROBE_FOLLOW_BYTES)], 'kenv capped at 256 bytes');
      } else {
        t.equal(rep.kenvAddr, 0n);
        t.equal(rep.kenv.length, 0, 'a zero kp_kenvstart copies nothing');
      }
      t.equal(rep.firmware.kind, src.kind, `firmware kind ${src.kind}`);
      t.equal(rep.firmware.addr, fwPa);
      t.same([...rep.firmware.bytes], [...fw], 'firmware capped at its length');
      const zeroTail = (a: Uint8Array, from: number): boolean => a.subarray(from).every((b) => b === 0);
      t.ok(zeroTail(rep.raw.firmware, fw.length), 'the firmware area is zero-filled past its length');
      t.ok(zeroTail(rep.raw.kenv, rep.kenv.length), 'the kenv area is zero-filled past its length');
      t.ok(zeroTail(rep.raw.params, params.length), 'the params area is zero-filled past the struct');
    });
  }
}
