/**
 * `kboot dump info` and `dump inspect` as a library call (dump/report/summary.ts,
 * dump/report/inspect.ts, dump/pages.ts) over a dump given by its bytes: openDump (amd64 ELF
 * full dumps with a kernel's symbols), the summary — facts through `version`,
 * `panicstr`, `hostname`, the message buffer through the section or `msgbufp` —, the zero
 * pages, the inspect report with its truncation, and both texts. Seeds: the dump targets'
 * dumps (minidumps, an ELF full dump, device images) and an ELF full dump whose memory holds
 * what the kernel's symbols point at.
 */
import { DumpError } from '../../../dump/errors.js';
import { planElfDump } from '../../../dump/elfdump.js';
import { openDump } from '../../../dump/open.js';
import { countZeroPagesSteps } from '../../../dump/pages.js';
import { formatDumpInspect, inspectReport } from '../../../dump/report/inspect.js';
import { formatDumpInfo, summarizeDump } from '../../../dump/report/summary.js';
import { runSteps } from '../../../dump/steps.js';
import { KernelDumpHeader } from '../../../dump/layout.js';
import { kernelOf, symbolFile } from '../../helpers/kernel-symbols.js';
import { bytesTarget } from '../lib/build.js';
import { layoutFields } from '../lib/fields.js';
import { invariant, type FuzzTarget } from '../lib/target.js';
import { elfFields } from './elf.js';
import { openSeeds } from './dump.js';

const DMAP = 0xffff_f800_0000_0000n;
const MEM = 0x4_0000;
/** Symbols at direct-map addresses of the seed memory (translated without page tables). */
const kernel = kernelOf(
  symbolFile('amd64', [
    { name: 'version', value: DMAP + 0x1000n, size: 0x80n },
    { name: 'panicstr', value: DMAP + 0x2000n, size: 8n },
    { name: 'hostname', value: DMAP + 0x2100n, size: 0x40n },
    { name: 'msgbufp', value: DMAP + 0x2200n, size: 8n },
  ]),
);

/** An amd64 ELF full dump of 256 KiB whose memory holds the strings and struct msgbuf the symbols name. */
function symbolDumpSeed(): Uint8Array {
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  const put = (at: number, s: string): void => mem.set(new TextEncoder().encode(`${s}\0`), at);
  put(0x1000, 'FreeBSD 15.0-CURRENT #0: fuzz\n');
  dv.setBigUint64(0x2000, DMAP + 0x2080n, true);
  put(0x2080, 'page fault while in kernel mode');
  put(0x2100, 'crashed.example.org');
  dv.setBigUint64(0x2200, DMAP + 0x3000n, true); // msgbufp -> struct msgbuf
  dv.setBigUint64(0x3000, DMAP + 0x4000n, true); // msg_ptr
  dv.setUint32(0x3008, 0x063062, true); // msg_magic
  dv.setUint32(0x300c, 0x1000, true); // msg_size
  dv.setUint32(0x3010, 0x40, true); // msg_wseq
  put(0x4000, '<6>panic: page fault\n<6>cpuid = 0\n');
  return Buffer.concat([
    ...planElfDump({
      arch: 'amd64',
      ranges: [[0n, BigInt(MEM)]],
      readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
    }).chunks(),
  ]);
}

function decodeInfo(b: Uint8Array): unknown {
  const plain = openDump(b);
  // the symbols lie in the direct map: below a minidump's kernel map, so for amd64 ELF dumps only
  const d = plain.kind === 'elf' && plain.arch === 'amd64' ? openDump(b, { kernel }) : plain;
  const zeroPages = runSteps(countZeroPagesSteps(d));
  invariant(zeroPages <= d.extent.dataPages, `${zeroPages} zero pages of ${d.extent.dataPages}`);
  const info = summarizeDump('fuzz', d, { zeroPages });
  formatDumpInfo(info);
  formatDumpInspect(inspectReport('fuzz', d, { zeroPages }));
  return {
    kind: d.kind,
    missing: d.extent.missingPages,
    found: Object.keys(info.sources).length,
    undetermined: info.undetermined.length,
  };
}

export const dumpInfoTarget: FuzzTarget = bytesTarget({
  name: 'dump-info',
  group: 'dump',
  entry:
    'openDump (+ --kernel symbols) + summarizeDump/formatDumpInfo + countZeroPages + inspectReport/formatDumpInspect',
  errors: [DumpError],
  floor: 0.25,
  tapRuns: 3000,
  seeds: () => [...openSeeds(), symbolDumpSeed()],
  decode: decodeInfo,
  fields: (b) => [...layoutFields(KernelDumpHeader, 0, b.length), ...(b[0] === 0x7f ? elfFields(b) : [])],
  keepHead: 0x200,
  randomLength: 4096,
  maxOps: 3,
});
