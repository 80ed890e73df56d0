// dump/full-kva.ts through dump/open.ts: kernel addresses of amd64 ELF full dumps as libkvm
// translates them (lib/libkvm/kvm_amd64.c: KPML4phys read at PA KPML4phys - kernbase, then
// PML4E -> PDPE (1 GiB leaf) -> PDE (2 MiB leaf) -> PTE). The memory is built here with
// known mappings, so the expected PA of every VA comes from how the tables were made, not
// from a walker: KERNBASE -> PA 0 by a 2 MiB page (as the kernel is linked), the next 2 MiB
// by 4 KiB pages to scattered frames, the direct map by a 1 GiB page. 1,000 random VAs are
// translated and read. Without the symbols only the direct map translates; arm64 full dumps
// translate nothing (libkvm has no full-dump vatop there); an invalid entry at each level is
// DUMP_NOT_MAPPED; a table page past the end of a truncated dump is DUMP_PAGE_MISSING.
import t from 'tap';
import { planElfDump } from '../../../dump/elfdump.js';
import { DumpCode } from '../../../dump/errors.js';
import { openDump } from '../../../dump/open.js';
import { kernelOf, symbolFile } from '../../helpers/kernel-symbols.js';
import { throwsCode } from '../../helpers/errors.js';

const MEM = 16 << 20;
const KERNBASE = 0xffff_ffff_8000_0000n;
const DMAP = 0xffff_f800_0000_0000n;
const V = 1n; // PG_V
const PS = 0x80n; // PG_PS
const T = { pml4: 0x1000, pdptK: 0x2000, pd: 0x3000, pt: 0x4000, pdptD: 0x5000, kpml4phys: 0x6000 } as const;
/** PT slot i maps the frame FRAMES[i] (a permutation of 256 frames from 8 MiB). */
const FRAMES = Array.from({ length: 256 }, (_, i) => 0x80_0000 + ((i * 167) % 256) * 0x1000);

function memory(): Uint8Array {
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  for (let i = 0x10_0000; i < MEM; i += 4) dv.setUint32(i, Math.imul(i, 2654435761) >>> 0, true);
  mem.fill(0, 0, 0x10_0000);
  const set = (table: number, i: number, v: bigint): void => dv.setBigUint64(table + i * 8, v, true);
  set(T.pml4, 511, BigInt(T.pdptK) | V); // KERNBASE: PML4 511
  set(T.pdptK, 510, BigInt(T.pd) | V); //           PDP 510
  set(T.pd, 0, 0n | PS | V); //                     2 MiB page at PA 0
  set(T.pd, 1, BigInt(T.pt) | V); //                4 KiB pages
  FRAMES.forEach((f, i) => set(T.pt, i, BigInt(f) | V));
  set(T.pml4, 496, BigInt(T.pdptD) | V); // DMAP_MIN_ADDRESS: PML4 496
  set(T.pdptD, 0, 0n | PS | V); //              1 GiB page at PA 0
  dv.setBigUint64(T.kpml4phys, BigInt(T.pml4), true); // the variable KPML4phys
  return mem;
}

const mem = memory();
const full = (arch: 'amd64' | 'arm64', m = mem): Uint8Array =>
  Buffer.concat([
    ...planElfDump({
      arch,
      ranges: [[0n, BigInt(MEM)]],
      readPhys: (pa, len) => m.slice(Number(pa), Number(pa) + len),
    }).chunks(),
  ]);
const bytes = full('amd64');
const kernel = kernelOf(
  symbolFile('amd64', [
    { name: 'kernbase', value: KERNBASE },
    { name: 'KPML4phys', value: KERNBASE + BigInt(T.kpml4phys), size: 8n },
  ]),
);

/** The PA the tables above give `va`, by construction. */
function expected(va: bigint): bigint {
  if (va >= DMAP && va < DMAP + (1n << 30n)) return va - DMAP;
  const off = va - KERNBASE;
  if (off < 0x20_0000n) return off;
  const slot = Number((off - 0x20_0000n) >> 12n);
  return BigInt(FRAMES[slot] ?? 0) + (va & 0xfffn);
}

t.test('1,000 random kernel VAs through the kernel page tables', (t) => {
  const d = openDump(bytes, { kernel });
  t.equal(d.kvaMethod, 'page-tables');
  let seed = 12345;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const bad: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const kind = i % 3;
    const va =
      kind === 0
        ? KERNBASE + BigInt(next(0x20_0000))
        : kind === 1
          ? KERNBASE + 0x20_0000n + BigInt(next(256 * 0x1000))
          : DMAP + BigInt(next(MEM - 64));
    const pa = expected(va);
    if (d.kvaToPa(va) !== pa) bad.push(`${va.toString(16)} -> ${d.kvaToPa(va).toString(16)}`);
    const len = 1 + next(48);
    const got = d.readKva(va, len);
    const want = new Uint8Array(len);
    for (let k = 0; k < len; k++) want[k] = mem[Number(expected(va + BigInt(k)))] ?? 0;
    if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) bad.push(`read ${va.toString(16)}+${len}`);
  }
  t.same(bad, [], 'every VA translates to the PA its tables give, and reads those bytes');
  t.end();
});

t.test('invalid entries at every level', (t) => {
  const d = openDump(bytes, { kernel });
  const why = (va: bigint): unknown => throwsCode(t, () => d.kvaToPa(va), DumpCode.NotMapped)?.details['why'];
  t.equal(why(0xffff_8000_0000_0000n), 'PML4E not valid');
  t.equal(why(KERNBASE - (1n << 30n)), 'PDPE not valid');
  t.equal(why(KERNBASE + 0x40_0000n), 'PDE not valid');
  t.equal(why(KERNBASE + 0x20_0000n + 256n * 0x1000n), 'PTE not valid');
  t.end();
});

t.test('without the symbols: the direct map only', (t) => {
  const d = openDump(bytes);
  t.equal(d.kvaMethod, 'direct-map');
  t.equal(d.kvaToPa(DMAP + 0x12_3456n), 0x12_3456n);
  const e = throwsCode(t, () => d.kvaToPa(KERNBASE + 0x1000n), DumpCode.NoKva);
  t.same(e?.details['needs'], ['kernbase', 'KPML4phys']);
  const noKpml4 = kernelOf(symbolFile('amd64', [{ name: 'kernbase', value: KERNBASE }]));
  const k = openDump(bytes, { kernel: noKpml4 });
  t.equal(k.kvaMethod, 'direct-map', 'a kernel without KPML4phys');
  throwsCode(t, () => k.readKva(KERNBASE, 8), DumpCode.NoKva);
  t.end();
});

t.test('arm64 full dumps: libkvm translates none', (t) => {
  const d = openDump(full('arm64'));
  t.equal(d.kvaMethod, 'none');
  const e = throwsCode(t, () => d.kvaToPa(0xffff_a000_0000_1000n), DumpCode.NoKva, 'not even the direct map');
  t.equal(e?.details['arch'], 'arm64');
  t.end();
});

t.test('a table page past the end of a truncated dump', (t) => {
  // move the PT page (and its frames) past the cut: the PD entry points at 12 MiB
  const m = Uint8Array.from(mem);
  const dv = new DataView(m.buffer);
  dv.setBigUint64(T.pd + 8, 0xc0_0000n | V, true);
  m.set(mem.subarray(T.pt, T.pt + 0x1000), 0xc0_0000);
  const cut = full('amd64', m).subarray(0, 0x1000 + 0xa0_0000); // headers + 10 MiB
  const d = openDump(cut, { kernel });
  t.equal(d.kvaToPa(KERNBASE + 0x1234n), 0x1234n, 'a 2 MiB page whose tables are present');
  const e = throwsCode(t, () => d.kvaToPa(KERNBASE + 0x20_0000n), DumpCode.PageMissing, 'the PT page is missing');
  t.same(e?.details, { pa: 0xc0_0000n, offset: 0xc0_1000n, fileSize: cut.length });
  t.end();
});
