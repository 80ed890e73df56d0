// Probe kernels: the ELF each build produces (parsed back with parseElf, rescue lint,
// layout, symbols, determinism, options), the checksum (FNV-1a 64 test vectors and the
// [_start, _edata) range), and the report decoder (round trip, one test per error code made
// by changing one field of a good report — the rescue-mode params/kenv/firmware fields
// included — and a fuzz run where only ProbeError may escape).
// The disassembly of the probes is checked with objdump in test/external/objdump.test.ts,
// their headers with readelf in readelf.test.ts beside this file.
import t from 'tap';
import fc from 'fast-check';
import { archInfo, ARCHES } from '../../../../loader/arch/index.js';
import { lintRescueKernel, parseElf, PF, PT, segmentBytes } from '../../../../loader/elf/index.js';
import {
  buildProbeKernel,
  decodeProbeReport,
  encodeProbeReport,
  fnv1a64,
  probeChecksum,
  probeEntryVa,
  probeImageMode,
  probeReportVa,
  ProbeCode,
  ProbeError,
  PROBE_FLAG,
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FLAGS_ALL,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_PARAMS_BYTES,
  PROBE_REPORT_AREA,
  PROBE_REPORT_OFFSET,
  PROBE_TEXT_OFFSET,
  PROBE_VERSION,
  PROBE_ITS_FIELDS_ZERO,
  ProbeReportLayout,
  type ProbeMode,
  type ProbeReportValues,
} from '../../../../kernels/probe/index.js';
import type { Arch } from '../../../../loader/arch/index.js';
import { decodeKenv } from '../../../../loader/handoff/kenv.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { rescueParamsLayout } from '../../../../loader/handoff/params.js';
import { throwsCode } from '../../../helpers/errors.js';

const MODES: readonly ProbeMode[] = ['rescue', 'kexec'];

t.test('each probe is a rescue-compatible FreeBSD-layout ELF', (t) => {
  for (const arch of ARCHES) {
    for (const mode of MODES) {
      const what = `${arch}/${mode}`;
      const bytes = buildProbeKernel(arch, { mode });
      const image = parseElf(bytes);
      const lint = lintRescueKernel(image);
      t.same(lint.problems, [], `${what}: lint passes`);
      t.equal(image.type, 'exec');
      t.equal(image.osabi, 9, 'EI_OSABI FreeBSD');
      t.equal(image.entry, probeEntryVa(arch), `${what}: entry`);
      const ks = archInfo(arch).kernstart;
      const [text, bss] = image.loadSegments;
      t.equal(image.loadSegments.length, 2);
      t.equal(text?.vaddr, ks + BigInt(PROBE_TEXT_OFFSET), 'text at KERNSTART + 0x1000');
      t.equal(text?.offset, BigInt(PROBE_TEXT_OFFSET), 'file offset = VA - KERNSTART');
      t.equal(text?.flags, PF.R | PF.X);
      t.ok((text?.filesz ?? 0n) <= BigInt(PROBE_REPORT_OFFSET - PROBE_TEXT_OFFSET), 'text ends before the report');
      t.equal(bss?.vaddr, probeReportVa(arch), 'report page');
      t.equal(bss?.offset, BigInt(PROBE_REPORT_OFFSET));
      t.equal(bss?.filesz, 0n, 'the report is BSS');
      t.equal(bss?.memsz, PROBE_REPORT_AREA);
      t.equal(bss?.flags, PF.R | PF.W);
      t.ok(image.phdrs.every((p) => p.type === PT.LOAD));
      const sym = (n: string): bigint | undefined => image.symbols.find((s) => s.name === n)?.value;
      t.equal(sym('_start'), image.entry);
      t.equal(sym('_edata'), (text?.vaddr ?? 0n) + (text?.filesz ?? 0n), '_edata ends the text');
      t.equal(sym('probe_report'), probeReportVa(arch));
      t.equal(sym('_end'), probeReportVa(arch) + PROBE_REPORT_AREA);
      t.same(buildProbeKernel(arch, { mode }), bytes, `${what}: deterministic`);
    }
    t.not(
      Buffer.from(buildProbeKernel(arch, { mode: 'rescue' })).toString('hex'),
      Buffer.from(buildProbeKernel(arch, { mode: 'kexec' })).toString('hex'),
      'the mode changes the code',
    );
  }
  t.end();
});

t.test('the console address is built into the code', (t) => {
  const text = (arch: Arch, uartBase?: bigint): string => {
    const image = parseElf(buildProbeKernel(arch, uartBase === undefined ? {} : { uartBase }));
    const seg = image.loadSegments[0];
    return seg === undefined ? '' : Buffer.from(segmentBytes(image, seg)).toString('hex');
  };
  t.match(text('amd64'), /baf8030000/, 'mov $0x3f8,%edx');
  t.match(text('amd64', 0x2f8n), /baf8020000/, 'mov $0x2f8,%edx');
  // arm64 MOVZ x1, #0x900, lsl #16 = 0xd2a12001 (little-endian 0120a1d2)
  t.match(text('arm64'), /0120a1d2/, 'movz x1, #0x900, lsl #16');
  t.notMatch(text('arm64', 0x1c09_0000n), /0120a1d2/);
  t.end();
});

t.test('bad options: PROBE_BAD_OPTION, one option changed each', (t) => {
  t.ok(buildProbeKernel('amd64', { mode: 'kexec', uartBase: 0xffffn }).length > 0, 'the good options build');
  throwsCode(
    t,
    () => buildProbeKernel('amd64', { mode: 'kexec', uartBase: 0x1_0000n }),
    ProbeCode.BadOption,
    'port past 0xffff',
  );
  throwsCode(t, () => buildProbeKernel('amd64', { mode: 'kexec', uartBase: -1n }), ProbeCode.BadOption, 'negative');
  throwsCode(
    t,
    () => buildProbeKernel('amd64', { mode: 'reboot' as ProbeMode, uartBase: 0xffffn }),
    ProbeCode.BadOption,
  );
  throwsCode(t, () => buildProbeKernel('arm64', { uartBase: 1n << 48n }), ProbeCode.BadOption, 'arm64 PA past 48 bits');
  throwsCode(t, () => buildProbeKernel('mips' as Arch), ProbeCode.BadOption, 'unknown arch');
  t.end();
});

t.test('FNV-1a 64: published test vectors, and the probe checksum covers [_start, _edata)', (t) => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  // Test vectors from the FNV reference test suite (Landon Curt Noll, fnv/test_fnv.c).
  t.equal(fnv1a64(enc('')), 0xcbf29ce484222325n);
  t.equal(fnv1a64(enc('a')), 0xaf63dc4c8601ec8cn);
  t.equal(fnv1a64(enc('foobar')), 0x85944171f73967e8n);
  for (const arch of ARCHES) {
    const bytes = buildProbeKernel(arch);
    const image = parseElf(bytes);
    const start = Number((image.entry ?? 0n) - archInfo(arch).kernstart);
    const edata = image.symbols.find((s) => s.name === '_edata')?.value ?? 0n;
    const end = Number(edata - archInfo(arch).kernstart);
    t.equal(probeChecksum(bytes), fnv1a64(bytes.subarray(start, end)), `${arch}: file bytes [_start, _edata)`);
  }
  t.end();
});

/** A complete synthetic report. */
function goodReport(arch: Arch): ProbeReportValues {
  return {
    ...PROBE_ITS_FIELDS_ZERO,
    magic: PROBE_MAGIC,
    version: PROBE_VERSION,
    machine: archInfo(arch).elfMachine,
    flags: PROBE_FLAGS_ALL,
    mode: PROBE_MODE_VALUE.kexec,
    entryPc: probeEntryVa(arch),
    gpr: Array.from({ length: 32 }, (_, i) => BigInt(i) * 0x1111n),
    sys: Array.from({ length: 8 }, (_, i) => 0x8000_0000n + BigInt(i)),
    ptRoot: 0x10_0000n,
    bootArgs: [0x30_0000n, 0x40_0000n],
    handoffAddr: 0xffff_ffff_8030_0000n,
    handoff: Uint8Array.from({ length: 64 }, (_, i) => i),
    checksum: 0x0123_4567_89ab_cdefn,
    checksumStart: probeEntryVa(arch),
    checksumEnd: probeEntryVa(arch) + 0x200n,
    uartBase: 0x3f8n,
    firmwareKind: PROBE_FIRMWARE_KIND.none,
    paramsLen: 0,
    kenvLen: 0,
    firmwareLen: 0,
    kenvAddr: 0n,
    firmwareAddr: 0n,
    params: new Uint8Array(PROBE_PARAMS_BYTES),
    kenv: new Uint8Array(PROBE_FOLLOW_BYTES),
    firmware: new Uint8Array(PROBE_FOLLOW_BYTES),
  };
}

/** A complete synthetic rescue-mode report with params, kenv and firmware bytes. */
function goodRescueReport(arch: Arch): ProbeReportValues {
  const paramsLen = rescueParamsLayout(arch).size;
  const kenv = new TextEncoder().encode('kern.smp.disabled=1\0a=b\0\0');
  return {
    ...goodReport(arch),
    mode: PROBE_MODE_VALUE.rescue,
    firmwareKind: PROBE_FIRMWARE_KIND[arch === 'amd64' ? 'smap' : 'fdt'],
    paramsLen,
    kenvLen: kenv.length,
    firmwareLen: 24,
    kenvAddr: 0x4020_0200n,
    firmwareAddr: 0x4020_00a8n,
    params: Uint8Array.from({ length: PROBE_PARAMS_BYTES }, (_, i) => (i < paramsLen ? i + 1 : 0)),
    kenv: Uint8Array.from({ length: PROBE_FOLLOW_BYTES }, (_, i) => kenv[i] ?? 0),
    firmware: Uint8Array.from({ length: PROBE_FOLLOW_BYTES }, (_, i) => (i < 24 ? 0xd0 + i : 0)),
  };
}

t.test('decodeProbeReport round-trips a synthetic report and names the registers', (t) => {
  const amd = decodeProbeReport(encodeProbeReport(goodReport('amd64')));
  t.equal(amd.arch, 'amd64');
  t.equal(amd.mode, 'kexec');
  t.ok(amd.complete);
  t.equal(amd.regs['rsp'], 4n * 0x1111n, 'rsp is gpr slot 4');
  t.equal(amd.regs['r15'], 15n * 0x1111n);
  t.equal(amd.sys['cr3'], 0x8000_0001n);
  t.same(amd.bootArgs, [0x30_0000n, 0x40_0000n]);
  t.same([amd.params.length, amd.kenv.length, amd.firmware.bytes.length], [0, 0, 0], 'kexec mode: nothing followed');
  t.equal(amd.firmware.kind, 'none');
  t.same(amd.raw, goodReport('amd64'), 'raw values round-trip');
  t.same(encodeProbeReport(amd.raw), encodeProbeReport(goodReport('amd64')), 'bytes round-trip');
  const arm = decodeProbeReport(
    encodeProbeReport({ ...goodReport('arm64'), flags: PROBE_FLAG.REGS | PROBE_FLAG.BOOT_ARGS }),
  );
  t.equal(arm.regs['x30'], 30n * 0x1111n);
  t.equal(arm.regs['sp'], 31n * 0x1111n, 'sp is gpr slot 31');
  t.equal(arm.sys['ttbr0_el1'], 0x8000_0002n);
  t.same(arm.stages, { regs: true, boot_args: true, handoff: false, params: false, checksum: false, uart: false });
  t.notOk(arm.complete);
  const buf = new Uint8Array(0x1000);
  buf.set(encodeProbeReport(goodReport('arm64')), 0x100);
  t.equal(decodeProbeReport(buf, 0x100).arch, 'arm64', 'at an offset');
  t.end();
});

t.test('decodeProbeReport: params, kenv and firmware are the copied bytes', (t) => {
  for (const arch of ARCHES) {
    const r = decodeProbeReport(encodeProbeReport(goodRescueReport(arch)));
    const size = rescueParamsLayout(arch).size;
    t.equal(r.mode, 'rescue');
    t.equal(r.params.length, size, `${arch}: params = sizeof(struct rescue_kernel_params)`);
    t.equal(r.params[0], 1);
    t.equal(r.params[size - 1], size & 0xff);
    t.same(
      decodeKenv(r.kenv),
      [
        ['kern.smp.disabled', '1'],
        ['a', 'b'],
      ],
      `${arch}: kenv decodes`,
    );
    t.equal(r.kenvAddr, 0x4020_0200n);
    t.equal(r.firmware.kind, arch === 'amd64' ? 'smap' : 'fdt');
    t.equal(r.firmware.addr, 0x4020_00a8n);
    t.same(
      [...r.firmware.bytes],
      Array.from({ length: 24 }, (_, i) => 0xd0 + i),
      `${arch}: firmware bytes`,
    );
    t.same(encodeProbeReport(r.raw), encodeProbeReport(goodRescueReport(arch)), 'bytes round-trip');
  }
  t.equal(PROBE_FIRMWARE_SOURCES.amd64.map((s) => s.kind).join(), 'efi,smap', 'amd64: EFI map else SMAP');
  t.equal(PROBE_FIRMWARE_SOURCES.arm64.map((s) => s.kind).join(), 'fdt,efi', 'arm64: DTB else EFI map');
  t.ok(ProbeReportLayout.size <= Number(PROBE_REPORT_AREA), 'the report fits its page');
  t.ok(
    PROBE_PARAMS_BYTES >= rescueParamsLayout('amd64').size && PROBE_PARAMS_BYTES >= rescueParamsLayout('arm64').size,
  );
  t.equal((ProbeReportLayout.size - PROBE_FOLLOW_START) % 8, 0, 'the zeroed tail is whole words');
  t.end();
});

t.test('decoder: PROBE_BAD_FIELD for the followed areas, one field changed each', (t) => {
  const mutate = (arch: Arch, field: keyof ProbeReportValues, value: number | bigint): Uint8Array =>
    encodeProbeReport({ ...goodRescueReport(arch), [field]: value });
  t.ok(decodeProbeReport(encodeProbeReport(goodRescueReport('amd64'))).complete, 'the good report decodes');
  throwsCode(t, () => decodeProbeReport(mutate('amd64', 'firmwareKind', 4)), ProbeCode.BadField, 'kind 4');
  throwsCode(
    t,
    () => decodeProbeReport(mutate('amd64', 'firmwareKind', PROBE_FIRMWARE_KIND.fdt)),
    ProbeCode.BadField,
    'amd64 has no DTB',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('arm64', 'firmwareKind', PROBE_FIRMWARE_KIND.smap)),
    ProbeCode.BadField,
    'arm64 has no SMAP',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('amd64', 'firmwareKind', PROBE_FIRMWARE_KIND.none)),
    ProbeCode.BadField,
    'kind none with firmware bytes',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('amd64', 'paramsLen', rescueParamsLayout('amd64').size + 8)),
    ProbeCode.BadField,
    'amd64 params past 160 bytes',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('arm64', 'kenvLen', PROBE_FOLLOW_BYTES + 1)),
    ProbeCode.BadField,
    'kenv past its area',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('arm64', 'firmwareLen', PROBE_FOLLOW_BYTES + 1)),
    ProbeCode.BadField,
    'firmware past its area',
  );
  throwsCode(
    t,
    () => decodeProbeReport(mutate('amd64', 'mode', PROBE_MODE_VALUE.kexec)),
    ProbeCode.BadField,
    'copies in kexec mode',
  );
  t.end();
});

t.test('decoder error codes, one field changed each', (t) => {
  const good = encodeProbeReport(goodReport('amd64'));
  const mutate = (field: keyof ProbeReportValues, value: number | bigint): Uint8Array =>
    encodeProbeReport({ ...goodReport('amd64'), [field]: value });
  throwsCode(
    t,
    () => decodeProbeReport(good.subarray(0, ProbeReportLayout.size - 1)),
    ProbeCode.Truncated,
    'one byte short',
  );
  throwsCode(t, () => decodeProbeReport(good, 1), ProbeCode.Truncated, 'offset past the start');
  throwsCode(t, () => decodeProbeReport(mutate('magic', PROBE_MAGIC ^ 1n)), ProbeCode.BadMagic);
  throwsCode(t, () => decodeProbeReport(mutate('version', PROBE_VERSION + 1)), ProbeCode.BadVersion);
  throwsCode(t, () => decodeProbeReport(mutate('machine', 3)), ProbeCode.BadField, 'EM_386');
  throwsCode(t, () => decodeProbeReport(mutate('mode', 2)), ProbeCode.BadField, 'mode 2');
  throwsCode(t, () => decodeProbeReport(mutate('flags', PROBE_FLAGS_ALL + 1)), ProbeCode.BadField, 'unknown flag bit');
  t.end();
});

t.test('fuzz: decodeProbeReport throws only ProbeError', (t) => {
  const base = encodeProbeReport(goodReport('arm64'));
  const rescueBase = encodeProbeReport(goodRescueReport('amd64'));
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 1300 }),
      fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 })), { maxLength: 8 }),
      fc.integer({ min: -4, max: 1300 }),
      (noise, flips, offset) => {
        const flip = (good: Uint8Array): Uint8Array => good.map((b, i) => flips.find(([at]) => at === i)?.[1] ?? b);
        for (const input of [noise, flip(base), flip(rescueBase)]) {
          try {
            decodeProbeReport(input, offset % 3 === 0 ? 0 : offset);
          } catch (e) {
            if (!(e instanceof ProbeError)) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.pass('only ProbeError escaped');
  t.end();
});

t.test('probeImageMode reads the mode a probe was built with from its image', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    for (const mode of ['rescue', 'kexec'] as const) {
      t.equal(probeImageMode(parseElf(buildProbeKernel(arch, { mode }))), mode, `${arch} ${mode}`);
    }
  }
  t.equal(probeImageMode(parseElf(makeRescueKernel('amd64'))), undefined, 'not a probe');
  t.end();
});
