// Fuzz contract of dump/reader.ts, dump/elfdump.ts (openElfDump), dump/open.ts (openDump) and dump/kerneldumpheader.ts: random and mutated bytes
// raise only DumpError. Seeds: a small synthetic amd64/arm64 minidump built by planMinidump.
import t from 'tap';
import fc from 'fast-check';
import { KbootError } from '../../loader/errors.js';
import { DumpError } from '../../dump/errors.js';
import { planMinidump } from '../../dump/minidump.js';
import { openMinidump } from '../../dump/reader.js';
import { openElfDump, planElfDump } from '../../dump/elfdump.js';
import { decodeKernelDumpHeader, encodeKernelDumpHeader } from '../../dump/kerneldumpheader.js';
import { openDump } from '../../dump/open.js';

function seedDump(arch: 'amd64' | 'arm64'): Uint8Array {
  const mem = new Uint8Array(0x10_0000);
  const dv = new DataView(mem.buffer);
  dv.setBigUint64(0x1000, 0n, true);
  dv.setBigUint64(0x1008, 0x10_0000n, true); // dump_avail [0, 1 MiB)
  mem[0x2000] = 0xff; // bitmap: pages 0..7
  const plan = planMinidump({
    arch,
    params: {
      dpMsgbufpa: 0x3000n,
      dpMsgbufsz: 0x100n,
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: 8n,
      dpDumpavailpa: 0x1000n,
      rootPa: 0x4000n,
      dpKernstart: 0xffff_0000_0000_0000n,
      dpKernend: 0xffff_0000_0040_0000n,
      dpDmapbasepa: 0n,
      dpDmapmin: 0xffff_a000_0000_0000n,
      dpDmapmax: 0xffff_ff00_0000_0000n,
    },
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  });
  return Buffer.concat([...plan.chunks()]);
}

const onlyDump = (fn: () => unknown): boolean => {
  try {
    fn();
  } catch (e) {
    return e instanceof DumpError;
  }
  return true;
};

for (const arch of ['amd64', 'arm64'] as const) {
  t.test(`minidump reader (${arch}): only DumpError`, (t) => {
    const seed = seedDump(arch);
    const exercise = (b: Uint8Array): void => {
      const d = openMinidump(b);
      for (const va of [0xffff_a000_0000_0000n, 0xffff_0000_0000_1000n, 0xffff_f800_0000_2000n, 0n]) {
        try {
          d.readKva(va, 16);
        } catch (e) {
          if (!(e instanceof DumpError)) throw e;
        }
      }
      d.readPa(0x1000n, 32);
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(4095 + 0x4000), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
        fc.nat(seed.length),
        (muts, cut) => {
          const b = seed.slice(0, Math.max(cut, 4096));
          for (const { at, v } of muts) if (at < b.length) b[at] = v;
          return onlyDump(() => exercise(b));
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => onlyDump(() => openMinidump(b))),
      { numRuns: 200 },
    );
    t.end();
  });
}

t.test('kerneldumpheader decoder: only DumpError', (t) => {
  const seed = encodeKernelDumpHeader({
    magic: 'kernel',
    arch: 'arm64',
    dumplength: 1n,
    dumptime: 2n,
    blocksize: 512,
    hostname: 'h',
    versionstring: 'v',
    panicstring: 'p',
    compression: 'GZIP',
  });
  fc.assert(
    fc.property(fc.nat(511), fc.integer({ min: 0, max: 255 }), fc.nat(512), (at, v, cut) => {
      const b = seed.slice(0, cut);
      if (at < b.length) b[at] = v;
      try {
        decodeKernelDumpHeader(b);
        return true;
      } catch (e) {
        return e instanceof DumpError && e instanceof KbootError;
      }
    }),
    { numRuns: 500 },
  );
  t.end();
});

t.test('ELF dump reader: only DumpError', (t) => {
  const mem = new Uint8Array(0x6000).map((_, i) => (i * 7) & 0xff);
  const plan = planElfDump({
    arch: 'arm64',
    ranges: [
      [0x1000n, 0x3000n],
      [0x4000n, 0x6000n],
    ],
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  });
  const seed = Buffer.concat([...plan.chunks()]);
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(64 + 2 * 56), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
      fc.nat(seed.length),
      fc.bigInt({ min: 0n, max: 0x7000n }),
      (muts, cut, pa) => {
        const b = seed.slice(0, cut);
        for (const { at, v } of muts) if (at < b.length) b[at] = v;
        return onlyDump(() => openElfDump(b).readPa(pa, 0x1800));
      },
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (b) => onlyDump(() => openElfDump(b))),
    { numRuns: 200 },
  );
  t.end();
});

t.test('openDump (format detection, device images): only DumpError', (t) => {
  const inner = seedDump('arm64');
  const kdh = encodeKernelDumpHeader({
    magic: 'kernel',
    arch: 'arm64',
    dumplength: BigInt(inner.length),
    dumptime: 2n,
    blocksize: 512,
    hostname: 'h',
    versionstring: 'v',
    panicstring: 'p',
    compression: 'NONE',
  });
  const device = Buffer.concat([kdh, inner, kdh]);
  t.equal(openDump(device).container, 'device', 'the seed opens');
  const exercise = (b: Uint8Array): void => {
    const d = openDump(b);
    d.readPa(0x1000n, 16);
    d.readKva(0xffff_a000_0000_1000n, 16);
  };
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(device.length - 1), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }),
      fc.boolean(),
      fc.nat(device.length),
      (muts, headers, cut) => {
        const b = Buffer.from(device);
        for (const { at, v } of muts) b[headers ? (at % 512) + (at % 2 === 0 ? 0 : b.length - 512) : at] = v;
        return onlyDump(() => exercise(b.subarray(0, Math.max(cut, device.length - 2048))));
      },
    ),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => onlyDump(() => openDump(b))),
    { numRuns: 300 },
  );
  t.end();
});
