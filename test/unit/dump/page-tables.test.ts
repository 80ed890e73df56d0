// dump/minidump.ts page-table synthesis on hand-built tables (freebsd-handoff.md §8.6): an
// amd64 1 GiB PDPE becomes 512 PDEs (frame + j·2 MiB, same flags); an arm64 L1 block becomes
// L3 pages of (frame + i·4 KiB) | ATTR_DEFAULT | L3_PAGE, one per 2 MiB slot; the reader
// translates through the synthesised pages (kvaToPa) as libkvm would. Also: a bitmap bit
// past dump_avail still takes a (zero) page, so later offsets stay right. Expected entry
// values are computed here from the architecture manuals' bit positions, not from the code.
import t from 'tap';
import { planMinidump } from '../../../dump/minidump.js';
import { openMinidump } from '../../../dump/reader.js';

const KERNSTART = 0xffff_0000_0000_0000n;

function source(arch: 'amd64' | 'arm64') {
  const mem = new Uint8Array(0x10_0000);
  const dv = new DataView(mem.buffer);
  dv.setBigUint64(0x1000, 0n, true);
  dv.setBigUint64(0x1008, 0x10_0000n, true); // dump_avail [0, 1 MiB): bits 0..255
  mem[0x2000] = 0x01; // page 0
  mem[0x2000 + 32] = 0x10; // bit 260: past dump_avail
  for (let i = 0; i < 0x1000; i++) mem[i] = (i * 7) & 0xff;
  if (arch === 'amd64') {
    dv.setBigUint64(0x4000, 0x5000n | 0x3n, true); // PML4[0] -> PDPT (V|RW)
    dv.setBigUint64(0x5000, 0x4000_0000n | 0x83n, true); // PDPT[0]: 1 GiB page (V|RW|PS)
  } else {
    dv.setBigUint64(0x4000, 0x5000n | 0x3n, true); // L0[0] -> L1 table
    dv.setBigUint64(0x5000, 0x4000_0000n | (1n << 10n) | 0x1n, true); // L1[0]: 1 GiB block, AF
  }
  return {
    arch,
    params: {
      dpMsgbufpa: 0x3000n,
      dpMsgbufsz: 0x100n,
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: 40n,
      dpDumpavailpa: 0x1000n,
      rootPa: 0x4000n,
      dpKernstart: KERNSTART,
      dpKernend: KERNSTART + 0x40_0000n,
      dpDmapbasepa: arch === 'arm64' ? 0n : undefined,
      dpDmapmin: 0xffff_a000_0000_0000n,
      dpDmapmax: 0xffff_ff00_0000_0000n,
    },
    readPhys: (pa: bigint, len: number) => mem.slice(Number(pa), Number(pa) + len),
  };
}

for (const arch of ['amd64', 'arm64'] as const) {
  t.test(`${arch}: large mappings become page-table pages`, (t) => {
    const plan = planMinidump(source(arch));
    const file = Buffer.concat([...plan.chunks()]);
    t.equal(BigInt(file.length), plan.size);
    const ptps = plan.segments.find((s) => s.name === 'PTPS');
    const pages = plan.segments.find((s) => s.name === 'PAGES');
    if (ptps === undefined || pages === undefined) throw new Error('no PTPS or PAGES segment');
    const at = (k: number): bigint => file.readBigUInt64LE(Number(ptps.offset) + k * 8);
    if (arch === 'amd64') {
      t.equal(ptps.size, 0x1000n, 'one PD page for the 4 MiB of kernel VA (one per 1 GiB)');
      let bad = 0;
      for (let j = 0; j < 512; j++) if (at(j) !== 0x4000_0083n + BigInt(j) * 0x20_0000n) bad++;
      t.equal(bad, 0, 'PDE j = frame + j·2 MiB | V|RW|PS');
    } else {
      t.equal(ptps.size, 0x2000n, 'two L3 pages for 4 MiB (one per 2 MiB)');
      const attrDefault = (1n << 10n) | (3n << 8n); // ATTR_AF | ATTR_SH(ATTR_SH_IS)
      let bad = 0;
      for (let k = 0; k < 1024; k++) if (at(k) !== ((0x4000_0000n + BigInt(k) * 0x1000n) | attrDefault | 3n)) bad++;
      t.equal(bad, 0, 'L3 entry i = frame + i·4 KiB | ATTR_DEFAULT | L3_PAGE across both pages');
    }
    t.equal(pages.size, 2n * 0x1000n, 'page 0 and the bit past dump_avail');
    const last = file.subarray(Number(pages.offset) + 0x1000, Number(pages.offset) + 0x2000);
    t.ok(
      last.every((b) => b === 0),
      'the bit past dump_avail is a zero page',
    );
    t.same([...file.subarray(Number(pages.offset), Number(pages.offset) + 8)], [0, 7, 14, 21, 28, 35, 42, 49]);
    const d = openMinidump(file);
    t.equal(d.header.msgbufsize, 0x1000, 'msgbufsize is round_page(dp_msgbufsz = 0x100)');
    t.equal(d.kvaToPa(KERNSTART + 0x23_4567n), 0x4023_4567n, 'reader walks the synthesised pages');
    t.end();
  });
}
