// rescue_kernel_params for amd64 (88/160) and arm64 (96/168): hand-computed vectors, round
// trips, defaults, signed kp_boothowto, error codes.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import {
  AMD64_RESCUE_DUMP_PARAMS_SIZE,
  AMD64_RESCUE_KERNEL_PARAMS_SIZE,
  Amd64RescueDumpParams,
  ARM64_RESCUE_DUMP_PARAMS_SIZE,
  ARM64_RESCUE_KERNEL_PARAMS_SIZE,
  Arm64RescueDumpParams,
  decodeRescueParams,
  encodeRescueParams,
  rescueDumpFields,
  rescueDumpParams,
  rescueParamsLayout,
  rescueParamsSpace,
  type Amd64RescueKernelParamsValues,
  type Arm64RescueKernelParamsValues,
} from '../../../../loader/handoff/params.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

// Each u64 field holds 0xa000_0000_0000_00XX with XX its C offset (computed by hand from
// machine/rescue.h, spec §8.3), so a misplaced field shows up as a wrong byte; boothowto = -2.
const AMD64: Amd64RescueKernelParamsValues = {
  dpMsgbufpa: 0xa000_0000_0000_0000n,
  dpMsgbufsz: 0xa000_0000_0000_0008n,
  dpVmdumppa: 0xa000_0000_0000_0010n,
  dpVmdumpsz: 0xa000_0000_0000_0018n,
  dpDumpavailpa: 0xa000_0000_0000_0020n,
  dpKernpml4pa: 0xa000_0000_0000_0028n,
  dpKernstart: 0xa000_0000_0000_0030n,
  dpKernend: 0xa000_0000_0000_0038n,
  dpKernmax: 0xa000_0000_0000_0040n,
  dpDmapmin: 0xa000_0000_0000_0048n,
  dpDmapmax: 0xa000_0000_0000_0050n,
  kpEfimapstart: 0xa000_0000_0000_0058n,
  kpEfimaplen: 0xa000_0000_0000_0060n,
  kpSmapstart: 0xa000_0000_0000_0068n,
  kpSmaplen: 0xa000_0000_0000_0070n,
  kpKenvstart: 0xa000_0000_0000_0078n,
  kpKenvlen: 0xa000_0000_0000_0080n,
  kpKernstart: 0xa000_0000_0000_0088n,
  kpEfifbaddr: 0xa000_0000_0000_0090n,
  kpBoothowto: -2,
};
const AMD64_BYTES = `
  00 00 00 00 00 00 00 a0 | 08 00 00 00 00 00 00 a0
  10 00 00 00 00 00 00 a0 | 18 00 00 00 00 00 00 a0
  20 00 00 00 00 00 00 a0 | 28 00 00 00 00 00 00 a0
  30 00 00 00 00 00 00 a0 | 38 00 00 00 00 00 00 a0
  40 00 00 00 00 00 00 a0 | 48 00 00 00 00 00 00 a0
  50 00 00 00 00 00 00 a0 | 58 00 00 00 00 00 00 a0
  60 00 00 00 00 00 00 a0 | 68 00 00 00 00 00 00 a0
  70 00 00 00 00 00 00 a0 | 78 00 00 00 00 00 00 a0
  80 00 00 00 00 00 00 a0 | 88 00 00 00 00 00 00 a0
  90 00 00 00 00 00 00 a0 | fe ff ff ff 00 00 00 00`;

const ARM64: Arm64RescueKernelParamsValues = {
  dpMsgbufpa: 0xa000_0000_0000_0000n,
  dpMsgbufsz: 0xa000_0000_0000_0008n,
  dpVmdumppa: 0xa000_0000_0000_0010n,
  dpVmdumpsz: 0xa000_0000_0000_0018n,
  dpDumpavailpa: 0xa000_0000_0000_0020n,
  dpKernl0pa: 0xa000_0000_0000_0028n,
  dpKernstart: 0xa000_0000_0000_0030n,
  dpKernend: 0xa000_0000_0000_0038n,
  dpKernmax: 0xa000_0000_0000_0040n,
  dpDmapbasepa: 0xa000_0000_0000_0048n,
  dpDmapmin: 0xa000_0000_0000_0050n,
  dpDmapmax: 0xa000_0000_0000_0058n,
  kpDtbstart: 0xa000_0000_0000_0060n,
  kpDtblen: 0xa000_0000_0000_0068n,
  kpEfimapstart: 0xa000_0000_0000_0070n,
  kpEfimaplen: 0xa000_0000_0000_0078n,
  kpEfifbaddr: 0xa000_0000_0000_0080n,
  kpKenvstart: 0xa000_0000_0000_0088n,
  kpKenvlen: 0xa000_0000_0000_0090n,
  kpKernstart: 0xa000_0000_0000_0098n,
  kpBoothowto: -2,
};
const ARM64_BYTES = `
  00 00 00 00 00 00 00 a0 | 08 00 00 00 00 00 00 a0
  10 00 00 00 00 00 00 a0 | 18 00 00 00 00 00 00 a0
  20 00 00 00 00 00 00 a0 | 28 00 00 00 00 00 00 a0
  30 00 00 00 00 00 00 a0 | 38 00 00 00 00 00 00 a0
  40 00 00 00 00 00 00 a0 | 48 00 00 00 00 00 00 a0
  50 00 00 00 00 00 00 a0 | 58 00 00 00 00 00 00 a0
  60 00 00 00 00 00 00 a0 | 68 00 00 00 00 00 00 a0
  70 00 00 00 00 00 00 a0 | 78 00 00 00 00 00 00 a0
  80 00 00 00 00 00 00 a0 | 88 00 00 00 00 00 00 a0
  90 00 00 00 00 00 00 a0 | 98 00 00 00 00 00 00 a0
  fe ff ff ff 00 00 00 00`;

t.test('sizes', (t) => {
  t.equal(AMD64_RESCUE_DUMP_PARAMS_SIZE, 88);
  t.equal(AMD64_RESCUE_KERNEL_PARAMS_SIZE, 160);
  t.equal(ARM64_RESCUE_DUMP_PARAMS_SIZE, 96);
  t.equal(ARM64_RESCUE_KERNEL_PARAMS_SIZE, 168);
  t.equal(rescueParamsLayout('amd64').size, 160);
  t.equal(rescueParamsLayout('arm64').offsets.kpBoothowto, 160);
  t.equal(rescueParamsLayout('amd64').offsets.kpBoothowto, 152);
  t.equal(rescueParamsSpace('amd64'), 160);
  t.equal(rescueParamsSpace('arm64'), 168);
  t.end();
});

t.test('hand-computed vectors, both arches', (t) => {
  t.equal(toHex(encodeRescueParams('amd64', AMD64)), toHex(fromHex(AMD64_BYTES)));
  t.equal(toHex(encodeRescueParams('arm64', ARM64)), toHex(fromHex(ARM64_BYTES)));
  t.same(decodeRescueParams('amd64', fromHex(AMD64_BYTES)), AMD64);
  t.same(decodeRescueParams('arm64', fromHex(ARM64_BYTES)), ARM64);
  // the dump params are the first 88 / 96 bytes of the kernel params
  t.equal(Amd64RescueDumpParams.decode(fromHex(AMD64_BYTES)).dpDmapmax, AMD64.dpDmapmax);
  t.equal(Arm64RescueDumpParams.decode(fromHex(ARM64_BYTES)).dpDmapbasepa, ARM64.dpDmapbasepa);
  t.end();
});

t.test('unset fields are zero (M_ZERO reservation); decoding at an offset', (t) => {
  const b = encodeRescueParams('amd64', { kpSmapstart: 0x4000_00a0n, kpSmaplen: 24n, kpBoothowto: 0x800 });
  t.equal(b.length, 160);
  const back = decodeRescueParams('amd64', b);
  t.equal(back.kpSmaplen, 24n);
  t.equal(back.kpBoothowto, 0x800);
  t.equal(back.kpEfimapstart, 0n);
  t.equal(toHex(encodeRescueParams('arm64', {})), toHex(new Uint8Array(168)));
  const shifted = new Uint8Array(200);
  shifted.set(fromHex(ARM64_BYTES), 16);
  t.same(decodeRescueParams('arm64', shifted, 16), ARM64);
  t.end();
});

t.test('round trip (property)', (t) => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const howto = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
  for (const arch of ['amd64', 'arm64'] as const) {
    const layout = rescueParamsLayout(arch);
    const names = Object.keys(layout.offsets).filter((n) => n !== 'kpBoothowto');
    const arb = fc
      .tuple(fc.array(u64, { minLength: names.length, maxLength: names.length }), howto)
      .map(([vals, h]) => ({
        ...Object.fromEntries(names.map((n, i) => [n, vals[i] ?? 0n])),
        kpBoothowto: h,
      }));
    fc.assert(
      fc.property(arb, (v) => {
        const b = encodeRescueParams(arch, v);
        assert.equal(b.length, layout.size);
        assert.deepStrictEqual(b.subarray(layout.size - 4), new Uint8Array(4), 'tail padding zero');
        assert.deepStrictEqual({ ...decodeRescueParams(arch, b) }, v);
      }),
      { numRuns: 200 },
    );
    t.pass(`${arch}: 200 random parameter blocks`);
  }
  t.end();
});

t.test('error codes', (t) => {
  throwsCode(
    t,
    () => encodeRescueParams('arm64', { kpSmapstart: 1n } as unknown as Partial<Arm64RescueKernelParamsValues>),
    HandoffCode.ParamsUnknownField,
    'arm64 has no kp_smapstart',
  );
  throwsCode(
    t,
    () => encodeRescueParams('amd64', { kpDtbstart: 1n } as unknown as Partial<Amd64RescueKernelParamsValues>),
    HandoffCode.ParamsUnknownField,
    'amd64 has no kp_dtbstart',
  );
  throwsCode(t, () => encodeRescueParams('amd64', { ...AMD64, kpKenvlen: 1n << 64n }), HandoffCode.ValueRange);
  throwsCode(t, () => encodeRescueParams('amd64', { ...AMD64, kpBoothowto: 0x8000_0000 }), HandoffCode.ValueRange);
  throwsCode(
    t,
    () => encodeRescueParams('arm64', { kpDtblen: 5 } as unknown as Partial<Arm64RescueKernelParamsValues>),
    HandoffCode.ValueRange,
    'a number where a u64 bigint belongs',
  );
  throwsCode(t, () => decodeRescueParams('arm64', fromHex(ARM64_BYTES).subarray(0, 167)), HandoffCode.Truncated);
  throwsCode(t, () => decodeRescueParams('amd64', fromHex(AMD64_BYTES), 8), HandoffCode.Truncated);
  t.end();
});

t.test('arch-neutral dump params: rootPa lands at offset 40, dpDmapbasepa only on arm64, and back', (t) => {
  const d = {
    dpMsgbufpa: 0x1000n,
    dpMsgbufsz: 0x2000n,
    dpVmdumppa: 0x3000n,
    dpVmdumpsz: 0x4000n,
    dpDumpavailpa: 0x5000n,
    rootPa: 0x6000n,
    dpKernstart: 0xffff_ffff_8020_0000n,
    dpKernend: 0xffff_ffff_8100_0000n,
    dpKernmax: 0xffff_ffff_c000_0000n,
    dpDmapbasepa: 0x4000_0000n,
    dpDmapmin: 0xffff_a000_0000_0000n,
    dpDmapmax: 0xffff_b000_0000_0000n,
  };
  for (const arch of ['amd64', 'arm64'] as const) {
    const b = encodeRescueParams(arch, rescueDumpFields(arch, d));
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    t.equal(dv.getBigUint64(40, true), 0x6000n, `${arch}: page-table root at offset 40`);
    t.equal(dv.getBigUint64(arch === 'amd64' ? 80 : 88, true), d.dpDmapmax, `${arch}: dp_dmapmax`);
    const back = rescueDumpParams(arch, decodeRescueParams(arch, b));
    t.same(back, arch === 'amd64' ? { ...d, dpDmapbasepa: undefined } : d);
  }
  t.end();
});
