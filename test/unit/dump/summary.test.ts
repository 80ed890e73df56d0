// dump/report/summary.ts (`kboot dump info`): the crash facts from the first source that has
// them — a dump-device image's kerneldumpheader, savecore's info file beside a raw vmcore
// (kboot's own form and savecore's, whose Version String runs over two lines), the kernel's
// symbols read through the dump (`version`, `hostname` as char arrays, `panicstr` as a
// pointer, `msgbufp` to struct msgbuf for an ELF full dump) — each with its source; the
// message buffer's last 40 lines (and an empty buffer: zero lines, no failure); pages
// dumped / zero / missing; what could not be determined, by field. Dumps are made by the real
// writers over memory filled here; struct msgbuf is written at sys/sys/msgbuf.h's offsets.
import t from 'tap';
import { planElfDump } from '../../../dump/elfdump.js';
import { encodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { infoText } from '../../../dump/info.js';
import { planMinidump } from '../../../dump/minidump.js';
import { openDump } from '../../../dump/open.js';
import { formatDumpInfo, summarizeDump } from '../../../dump/report/summary.js';
import { validateJson } from '../../../loader/schema.js';
import { kernelOf, symbolFile } from '../../helpers/kernel-symbols.js';

const MEM = 0x80_0000;
const MSG = { pa: 0x40_0000, region: 0x4000, struct: 72 } as const;
const DMAP = 0xffff_f800_0000_0000n;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const LINES = Array.from({ length: 100 }, (_, i) => `line ${i}: kernel message`);

/** 8 MiB: dump_avail, a bitmap (pages 0x10..0x1f and the msgbuf), the msgbuf ring holding LINES (or `text`). */
function memory(text = `${LINES.map((l) => `<6>${l}`).join('\n')}\n`): Uint8Array {
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  for (let i = 0x10_000; i < MEM; i += 4) dv.setUint32(i, Math.imul(i, 2654435761) >>> 0, true);
  dv.setBigUint64(0x1008, BigInt(MEM), true);
  for (const p of [...Array.from({ length: 16 }, (_, i) => 0x10 + i), 0x400, 0x401, 0x402, 0x403]) {
    mem[0x2000 + (p >> 3)] = (mem[0x2000 + (p >> 3)] ?? 0) | (1 << (p & 7));
  }
  mem.fill(0, MSG.pa, MSG.pa + MSG.region);
  const size = MSG.region - MSG.struct;
  const b = enc(text);
  for (let i = 0; i < b.length; i++) mem[MSG.pa + (i % size)] = b[i] ?? 0;
  const m = new DataView(mem.buffer, MSG.pa + size, MSG.struct);
  m.setBigUint64(0, DMAP + BigInt(MSG.pa), true); // msg_ptr
  m.setUint32(8, 0x063062, true); // msg_magic
  m.setUint32(12, size, true); // msg_size
  m.setUint32(16, b.length, true); // msg_wseq
  return mem;
}

function minidump(mem: Uint8Array): Buffer {
  const plan = planMinidump({
    arch: 'amd64',
    params: {
      dpMsgbufpa: BigInt(MSG.pa),
      dpMsgbufsz: BigInt(MSG.region - MSG.struct),
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: BigInt(MEM / 0x1000 / 8),
      dpDumpavailpa: 0x1000n,
      rootPa: 0x3000n,
      dpKernstart: 0xffff_fe00_0000_0000n,
      dpKernend: 0xffff_fe00_0020_0000n,
      dpDmapbasepa: undefined,
      dpDmapmin: DMAP,
      dpDmapmax: 0xffff_fc00_0000_0000n,
    },
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  });
  return Buffer.concat([...plan.chunks()]);
}

const FACTS = {
  hostname: 'crashed.example.org',
  versionstring: 'FreeBSD 15.0-CURRENT #0 main-n123456: Thu Jan  1 00:00:00 UTC 2025\n',
  panicstring: 'page fault while in kernel mode',
};

t.test('a dump-device image: the kerneldumpheader, then the msgbuf section', (t) => {
  const dump = minidump(memory());
  const h = encodeKernelDumpHeader({
    magic: 'kernel',
    arch: 'amd64',
    dumplength: BigInt(dump.length),
    dumptime: 1_735_689_600n,
    blocksize: 512,
    compression: 'NONE',
    ...FACTS,
  });
  const block = Buffer.concat([h, new Uint8Array(512 - h.length)]);
  const r = summarizeDump('dev', openDump(Buffer.concat([block, dump, block])), { zeroPages: 0 });
  t.same(validateJson('dump-info', r), []);
  t.match(r, {
    format: 'minidump',
    formatVersion: 3,
    headerVersion: 4,
    container: 'device',
    dumptime: { seconds: 1_735_689_600, text: 'Wed Jan  1 00:00:00 2025' },
    hostname: FACTS.hostname,
    panicString: FACTS.panicstring,
    kernelVersion: FACTS.versionstring.trim(),
    pages: { dumped: 20, zero: 0, missing: 0 },
    truncation: null,
    kernel: null,
  });
  t.same(r.sources, {
    dumptime: 'kerneldumpheader',
    hostname: 'kerneldumpheader',
    panicString: 'kerneldumpheader',
    kernelVersion: 'kerneldumpheader',
    msgbuf: 'msgbuf section',
  });
  t.same(r.msgbuf, { lineCount: 100, lines: LINES.slice(-40) }, 'the last 40 lines');
  t.same(r.undetermined, []);
  t.ok(formatDumpInfo(r).includes(LINES[99] ?? '?'));
  t.end();
});

t.test("a raw vmcore: the info file beside it (kboot's form, and savecore's)", (t) => {
  const d = openDump(minidump(memory()));
  const kboot = infoText({
    device: '/dev/dumper',
    facts: { arch: 'amd64', dumptime: 1_735_689_600n, ...FACTS },
    dumplength: 1n,
    compression: 'none',
    parity: 0,
    bounds: 1,
    status: 'good',
  });
  const a = summarizeDump('vmcore.0', d, { zeroPages: 0, infoText: kboot });
  t.match(a, { hostname: FACTS.hostname, panicString: FACTS.panicstring, kernelVersion: FACTS.versionstring.trim() });
  t.equal(a.dumptime?.seconds, 1_735_689_600);
  t.same(a.sources, {
    dumptime: 'info file',
    hostname: 'info file',
    panicString: 'info file',
    kernelVersion: 'info file',
    msgbuf: 'msgbuf section',
  });
  const savecore = [
    'Dump header from device: /dev/ada0p3',
    '  Architecture: amd64',
    '  Architecture Version: 2',
    '  Dump Length: 1073741824',
    '  Blocksize: 512',
    '  Compression: none',
    '  Dumptime: 2025-01-01 01:02:03 +0100',
    '  Hostname: vm1.example.org',
    '  Magic: FreeBSD Kernel Dump',
    '  Version String: FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC',
    '    root@releng3.nyi.freebsd.org:/usr/obj/usr/src/amd64.amd64/sys/GENERIC',
    '  Panic String: Fatal trap 12: page fault while in kernel mode',
    '  Dump Parity: 1234567',
    '  Bounds: 0',
    '  Dump Status: good',
    '',
  ].join('\n');
  const b = summarizeDump('vmcore.0', d, { zeroPages: 0, infoText: savecore });
  t.match(b, {
    hostname: 'vm1.example.org',
    panicString: 'Fatal trap 12: page fault while in kernel mode',
    kernelVersion:
      'FreeBSD 14.1-RELEASE releng/14.1-n267679-10e31f0946d8 GENERIC\n    root@releng3.nyi.freebsd.org:/usr/obj/usr/src/amd64.amd64/sys/GENERIC',
    dumptime: { seconds: null, text: '2025-01-01 01:02:03 +0100' },
  });
  const c = summarizeDump('vmcore.0', d, { zeroPages: 'not counted' });
  t.same(
    c.undetermined.map((u) => u.field),
    ['dumptime', 'hostname', 'panicString', 'kernelVersion', 'pages.zero'],
    'without an info file or a kernel: each fact is listed with its reason',
  );
  t.same(validateJson('dump-info', c), []);
  t.end();
});

t.test("an ELF full dump: the kernel's symbols read through the dump", (t) => {
  const mem = memory();
  const put = (pa: number, s: string): void => mem.set(enc(`${s}\0`), pa);
  put(0x10_000, FACTS.versionstring); // version[]
  new DataView(mem.buffer).setBigUint64(0x11_000, DMAP + 0x12_000n, true); // panicstr
  put(0x12_000, FACTS.panicstring);
  put(0x13_000, FACTS.hostname); // hostname[]
  new DataView(mem.buffer).setBigUint64(0x14_000, DMAP + BigInt(MSG.pa + MSG.region - MSG.struct), true); // msgbufp
  const elf = Buffer.concat([
    ...planElfDump({
      arch: 'amd64',
      ranges: [[0n, BigInt(MEM)]],
      readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
    }).chunks(),
  ]);
  const kernel = kernelOf(
    symbolFile('amd64', [
      { name: 'version', value: DMAP + 0x10_000n, size: 0x100n },
      { name: 'panicstr', value: DMAP + 0x11_000n, size: 8n },
      { name: 'hostname', value: DMAP + 0x13_000n, size: 0x100n },
      { name: 'msgbufp', value: DMAP + 0x14_000n, size: 8n },
    ]),
  );
  const r = summarizeDump('vmcore.elf', openDump(elf, { kernel }), { zeroPages: 1 });
  t.same(validateJson('dump-info', r), []);
  t.match(r, {
    format: 'elf',
    formatVersion: null,
    hostname: FACTS.hostname,
    panicString: FACTS.panicstring,
    kernelVersion: FACTS.versionstring.trim(),
    dumptime: null,
    kernel: { file: 'kernel.elf', symbolOnly: true, kvaMethod: 'direct-map' },
  });
  t.same(r.sources, {
    hostname: 'symbol hostname',
    panicString: 'symbol panicstr',
    kernelVersion: 'symbol version',
    msgbuf: 'symbol msgbufp',
  });
  t.same(r.msgbuf?.lines, LINES.slice(-40));
  t.same(
    r.undetermined.map((u) => u.field),
    ['dumptime'],
  );
  // panicstr NULL; no msgbufp: each is listed, the rest still summarized
  new DataView(elf.buffer, elf.byteOffset).setBigUint64(0x1000 + 0x11_000, 0n, true);
  const k2 = kernelOf(symbolFile('amd64', [{ name: 'panicstr', value: DMAP + 0x11_000n, size: 8n }]));
  const n = summarizeDump('vmcore.elf', openDump(elf, { kernel: k2 }), { zeroPages: 1 });
  t.same(
    n.undetermined.map((u) => u.field),
    ['dumptime', 'hostname', 'panicString', 'kernelVersion', 'msgbuf'],
  );
  t.equal(n.msgbuf, null);
  t.end();
});

t.test('an empty message buffer is zero lines, not a failure', (t) => {
  const r = summarizeDump('vmcore', openDump(minidump(memory(''))), { zeroPages: 0 });
  t.same(r.msgbuf, { lineCount: 0, lines: [] });
  t.notOk(
    r.undetermined.some((u) => u.field === 'msgbuf'),
    'nothing undetermined about it',
  );
  t.ok(formatDumpInfo(r).includes('empty'));
  t.end();
});
