// Truncated and sparse dumps (dump/open.ts extent, dump/reader.ts, dump/pages.ts,
// dump/report/inspect.ts): a minidump made by the real writer and cut short opens; what it
// lacks is counted (bytes, data pages not wholly in the file) and listed by physical range
// with the file offset each page would have; reads of present pages work, reads that need a
// missing page are DUMP_PAGE_MISSING naming the PA and the offset; a cut inside the headers
// or sections is still DUMP_TRUNCATED. All-zero dumped pages are counted over the pages the
// file holds, by a count made here page by page.
import t from 'tap';
import { planMinidump } from '../../../dump/minidump.js';
import { DumpCode } from '../../../dump/errors.js';
import { encodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { openDump } from '../../../dump/open.js';
import { countZeroPagesSteps } from '../../../dump/pages.js';
import { formatDumpInspect, inspectReport } from '../../../dump/report/inspect.js';
import { runSteps } from '../../../dump/steps.js';
import { SMALL_DUMPED, smallMemory } from '../../helpers/dump-fixtures.js';
import { throwsCode } from '../../helpers/errors.js';

const PS = 0x1000;
/** The small minidump with pages 0x12 and 0x13 zeroed (0x400, the msgbuf page, is zero already). */
function dump(): { mem: Uint8Array; bytes: Buffer; sparse: number } {
  const mem = smallMemory();
  mem.fill(0, 0x12 * PS, 0x14 * PS);
  const plan = planMinidump({
    arch: 'amd64',
    params: {
      dpMsgbufpa: 0x40_0000n,
      dpMsgbufsz: 0x4000n - 72n,
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: 0x100n,
      dpDumpavailpa: 0x1000n,
      rootPa: 0x3000n,
      dpKernstart: 0xffff_fe00_0000_0000n,
      dpKernend: 0xffff_fe00_0020_0000n,
      dpDmapbasepa: undefined,
      dpDmapmin: 0xffff_f800_0000_0000n,
      dpDmapmax: 0xffff_fc00_0000_0000n,
    },
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  });
  const pages = plan.segments.find((s) => s.name === 'PAGES');
  return { mem, bytes: Buffer.concat([...plan.chunks()]), sparse: Number(pages?.offset ?? 0n) };
}

/** Zero pages counted here, one page at a time over the pages the file holds. */
function zerosByHand(bytes: Uint8Array, sparse: number): number {
  let n = 0;
  for (let o = sparse; o + PS <= bytes.length; o += PS) if (bytes.subarray(o, o + PS).every((b) => b === 0)) n++;
  return n;
}

const { mem, bytes, sparse } = dump();
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

t.test('a whole dump: nothing missing; zero pages counted', (t) => {
  const d = openDump(bytes);
  t.same(
    { ...d.extent, missingRanges: d.extent.missingRanges(10) },
    {
      expectedSize: bytes.length,
      size: bytes.length,
      missingBytes: 0,
      dataPages: SMALL_DUMPED.length,
      missingPages: 0,
      missingRanges: [],
    },
  );
  const zeros = runSteps(countZeroPagesSteps(d));
  t.equal(zeros, 3, 'pages 0x12, 0x13 and the empty msgbuf page');
  t.equal(zeros, zerosByHand(bytes, sparse));
  const r = inspectReport('vmcore', d, { zeroPages: zeros });
  t.equal(r.truncation, null);
  t.equal(r.zeroPages, 3);
  t.end();
});

t.test('cut inside the 11th data page', (t) => {
  const cut = bytes.subarray(0, sparse + 10 * PS + PS / 2);
  const d = openDump(cut);
  const x = d.extent;
  t.equal(x.expectedSize, bytes.length);
  t.equal(x.missingBytes, bytes.length - cut.length);
  t.equal(x.missingPages, SMALL_DUMPED.length - 10, 'the partly present page counts as missing');
  t.same(x.missingRanges(10), [
    { pa: 0x1a000n, end: 0x30000n, offset: BigInt(sparse + 10 * PS) },
    { pa: 0x10_0000n, end: 0x10_2000n, offset: BigInt(sparse + 32 * PS) },
    { pa: 0x40_0000n, end: 0x40_1000n, offset: BigInt(sparse + 34 * PS) },
  ]);
  t.same(x.missingRanges(1).length, 1, 'the first `limit` ranges');
  // reads of present pages work; of missing ones, DUMP_PAGE_MISSING with the PA and offset
  t.ok(same(d.readPa(0x19ff0n, 16), mem.subarray(0x19ff0, 0x1a000)), 'the last whole page');
  const e = throwsCode(t, () => d.readPa(0x1a010n, 4), DumpCode.PageMissing, 'the partly present page');
  t.same(e?.details, { pa: 0x1a010n, offset: BigInt(sparse + 10 * PS), fileSize: cut.length });
  throwsCode(t, () => d.readPa(0x19ff8n, 16), DumpCode.PageMissing, 'a read running into it');
  throwsCode(t, () => d.readKva(0xffff_f800_0010_0000n, 8), DumpCode.PageMissing, 'by kernel VA (the DMAP)');
  throwsCode(t, () => d.paToFileOffset(0x40_0000n), DumpCode.PageMissing);
  throwsCode(t, () => d.readPa(0x50_0000n, 4), DumpCode.NotDumped, 'a page the dump never held is still NOT_DUMPED');
  const zeros = runSteps(countZeroPagesSteps(d));
  t.equal(zeros, zerosByHand(cut, sparse), 'zero pages of the present pages only');
  t.equal(zeros, 2);
  const r = inspectReport('vmcore', d, { zeroPages: zeros });
  t.same(r.truncation, {
    expectedSize: `0x${bytes.length.toString(16)}`,
    size: `0x${cut.length.toString(16)}`,
    missingBytes: `0x${(bytes.length - cut.length).toString(16)}`,
    missingPages: 25,
    missingRanges: [
      { start: '0x1a000', end: '0x30000', offset: `0x${(sparse + 10 * PS).toString(16)}` },
      { start: '0x100000', end: '0x102000', offset: `0x${(sparse + 32 * PS).toString(16)}` },
      { start: '0x400000', end: '0x401000', offset: `0x${(sparse + 34 * PS).toString(16)}` },
    ],
    moreRanges: false,
  });
  t.ok(formatDumpInspect(r).length > 0);
  t.end();
});

t.test('in a dump-device image the offsets are in the image', (t) => {
  const cut = bytes.subarray(0, sparse + 34 * PS); // all but the last page
  const padded = Buffer.concat([cut, new Uint8Array(PS)]); // the device's free space
  const h = encodeKernelDumpHeader({
    magic: 'kernel',
    arch: 'amd64',
    dumplength: BigInt(cut.length),
    dumpextent: BigInt(padded.length),
    dumptime: 1n,
    blocksize: 512,
    hostname: 'h',
    versionstring: 'v\n',
    panicstring: 'p',
    compression: 'NONE',
  });
  const block = (): Uint8Array => {
    const b = new Uint8Array(512);
    b.set(h);
    return b;
  };
  const image = Buffer.concat([block(), padded, block()]);
  const d = openDump(image);
  t.equal(d.extent.missingPages, 1);
  t.same(d.extent.missingRanges(4), [{ pa: 0x40_0000n, end: 0x40_1000n, offset: BigInt(512 + sparse + 34 * PS) }]);
  const e = throwsCode(t, () => d.readPa(0x40_0000n, 1), DumpCode.PageMissing);
  t.same(
    e?.details,
    { pa: 0x40_0000n, offset: BigInt(512 + sparse + 34 * PS), fileSize: image.length },
    'in the image',
  );
  t.end();
});

t.test('a cut inside the sections is still DUMP_TRUNCATED', (t) => {
  for (const at of [0x800, PS + 0x100, sparse - 8]) {
    throwsCode(t, () => openDump(bytes.subarray(0, at)), DumpCode.Truncated, `cut at ${at.toString(16)}`);
  }
  t.end();
});
