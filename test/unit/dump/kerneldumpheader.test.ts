// dump/kerneldumpheader.ts: struct kerneldumpheader v4 checked field by field against the
// offsets of sys/sys/kerneldump.h (hand-computed big-endian vectors), XOR parity as
// kerneldump_parity computes it, a one-bit flip detected, and one test per error code.
import t from 'tap';
import {
  decodeKernelDumpHeader,
  encodeKernelDumpHeader,
  kerneldumpParity,
  type KernelDumpHeaderFields,
} from '../../../dump/kerneldumpheader.js';
import { DumpCode } from '../../../dump/errors.js';
import { throwsCode } from '../../helpers/errors.js';

const good: KernelDumpHeaderFields = {
  magic: 'kernel',
  arch: 'amd64',
  dumplength: 0x1_2345_6000n,
  dumptime: 0x6700_0000n,
  blocksize: 512,
  hostname: 'host.example',
  versionstring: 'FreeBSD 15.0-CURRENT #0',
  panicstring: 'page fault',
  compression: 'NONE',
};
const ascii = (b: Uint8Array, o: number, n: number): string =>
  Buffer.from(b.subarray(o, o + n))
    .toString('latin1')
    .replace(/\0+$/, '');

t.test('field offsets and big-endian values', (t) => {
  const b = encodeKernelDumpHeader(good);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  t.equal(b.length, 512);
  t.equal(ascii(b, 0, 20), 'FreeBSD Kernel Dump');
  t.equal(b[19], 0);
  t.equal(ascii(b, 20, 12), 'amd64');
  t.same([...b.subarray(32, 36)], [0, 0, 0, 4], 'version 4 big-endian at 32');
  t.same([...b.subarray(36, 40)], [0, 0, 0, 2], 'KERNELDUMP_AMD64_VERSION 2 at 36');
  t.same([...b.subarray(40, 48)], [0, 0, 0, 1, 0x23, 0x45, 0x60, 0], 'dumplength at 40');
  t.same([...b.subarray(48, 56)], [0, 0, 0, 0, 0x67, 0, 0, 0], 'dumptime at 48');
  t.equal(dv.getUint32(56, false), 0, 'dumpkeysize at 56');
  t.same([...b.subarray(60, 64)], [0, 0, 2, 0], 'blocksize at 60');
  t.equal(ascii(b, 64, 64), 'host.example');
  t.equal(ascii(b, 128, 192), 'FreeBSD 15.0-CURRENT #0');
  t.equal(ascii(b, 320, 175), 'page fault');
  t.equal(b[495], 0, 'compression NONE at 495');
  t.same([...b.subarray(496, 504)], [0, 0, 0, 1, 0x23, 0x45, 0x60, 0], 'dumpextent = dumplength at 496');
  t.same([...b.subarray(504, 508)], [0, 0, 0, 0]);
  t.equal(kerneldumpParity(b), 0, 'XOR of all words is 0');
  const arm = encodeKernelDumpHeader({ ...good, arch: 'arm64', compression: 'ZSTD' });
  t.equal(ascii(arm, 20, 12), 'aarch64');
  t.same([...arm.subarray(36, 40)], [0, 0, 0, 1], 'KERNELDUMP_AARCH64_VERSION 1');
  t.equal(arm[495], 2);
  t.end();
});

t.test('round trip and strlcpy truncation', (t) => {
  const d = decodeKernelDumpHeader(encodeKernelDumpHeader(good));
  t.match(d, { ...good, dumpextent: good.dumplength, dumpkeysize: 0, version: 4, architectureversion: 2 });
  const long = encodeKernelDumpHeader({ ...good, versionstring: 'v'.repeat(300), hostname: 'h'.repeat(80) });
  t.equal(long[190 + 128], 0x0a, 'versionstring[190] = newline when truncated');
  t.equal(long[191 + 128], 0, 'NUL at 191');
  t.equal(ascii(long, 64, 64).length, 63, 'hostname keeps 63 bytes');
  t.end();
});

t.test('parity: every one-bit flip is detected', (t) => {
  const b = encodeKernelDumpHeader(good);
  let missed = 0;
  for (let bit = 0; bit < 512 * 8; bit++) {
    const m = b.slice();
    m[bit >> 3] = (m[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    if (kerneldumpParity(m) === 0) missed++;
  }
  t.equal(missed, 0, 'all 4,096 single-bit flips change the parity');
  const m = b.slice();
  m[400] = (m[400] ?? 0) ^ 1;
  throwsCode(t, () => decodeKernelDumpHeader(m), DumpCode.BadParity);
  t.end();
});

t.test('each error code from one mutated field', (t) => {
  const b = encodeKernelDumpHeader(good);
  const fix = (m: Uint8Array): Uint8Array => {
    // re-seal parity so only the intended check fails
    const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
    dv.setUint32(508, 0, true);
    dv.setUint32(508, kerneldumpParity(m), true);
    return m;
  };
  throwsCode(t, () => decodeKernelDumpHeader(b.subarray(0, 511)), DumpCode.Truncated);
  let m = b.slice();
  m[0] = 0x58;
  throwsCode(t, () => decodeKernelDumpHeader(fix(m)), DumpCode.BadMagic);
  m = b.slice();
  m[35] = 3;
  throwsCode(t, () => decodeKernelDumpHeader(fix(m)), DumpCode.BadVersion);
  m = b.slice();
  m[20] = 0x78;
  throwsCode(t, () => decodeKernelDumpHeader(fix(m)), DumpCode.UnknownArch, 'unknown architecture');
  m = b.slice();
  m[495] = 9;
  throwsCode(t, () => decodeKernelDumpHeader(fix(m)), DumpCode.UnknownCompression, 'unknown compression');
  throwsCode(t, () => encodeKernelDumpHeader({ ...good, dumplength: -1n }), DumpCode.BadValue);
  throwsCode(t, () => encodeKernelDumpHeader({ ...good, blocksize: 2 ** 32 }), DumpCode.BadValue);
  t.end();
});
