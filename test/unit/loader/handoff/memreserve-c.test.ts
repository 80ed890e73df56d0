// The ITS hand-off descriptor page (loader/handoff/memreserve.ts) checked by the host C
// compiler: a C program declares FreeBSD's structs as sys/sys/efi.h has them (efi_tblhdr,
// efi_systbl, efi_guid_t, efi_cfgtbl, linux_efi_memreserve{,_entry}) and the
// LINUX_EFI_MEMRESERVE_TABLE initializer, prints sizeof/offsetof of every field, then walks
// the page kboot encoded the way exclude_efi_memreserve does (signature, st_cfgtbl, GUID
// memcmp, ct_data, mr_count entries, mr_next) and prints what it found. Skips only when no C
// compiler is installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  EfiConfigTable,
  EfiSystemTable,
  encodeItsDescriptors,
  ITS_DESCRIPTOR_PAGE,
  LinuxEfiMemreserve,
  LinuxEfiMemreserveEntry,
  walkMemreserve,
} from '../../../../loader/handoff/memreserve.js';
import { requireTool } from '../../../helpers/tools.js';
import { throwsCode } from '../../../helpers/errors.js';

const C_SOURCE = String.raw`
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct efi_guid { uint32_t Data1; uint16_t Data2; uint16_t Data3; uint8_t Data4[8]; } efi_guid_t;
struct efi_tblhdr { uint64_t th_sig; uint32_t th_rev; uint32_t th_hdrsz; uint32_t th_crc32; uint32_t __res; };
struct efi_systbl { struct efi_tblhdr st_hdr; uint16_t *st_fwvendor; uint32_t st_fwrev; uint32_t __pad;
  void *st_cin; void *st_cinif; void *st_cout; void *st_coutif; void *st_cerr; void *st_cerrif;
  uint64_t st_rt; void *st_bs; unsigned long st_entries; uint64_t st_cfgtbl; };
struct efi_cfgtbl { efi_guid_t ct_guid; void *ct_data; };
struct linux_efi_memreserve_entry { unsigned long mre_base; unsigned long mre_size; };
struct linux_efi_memreserve { uint32_t mr_size; uint32_t mr_count; unsigned long mr_next;
  struct linux_efi_memreserve_entry mr_entry[]; };
#define EFI_SYSTBL_SIG 0x5453595320494249UL
#define LINUX_EFI_MEMRESERVE_TABLE {0x888eb0c6,0x8ede,0x4ff5,{0xa8,0xf0,0x9a,0xee,0x5c,0xb9,0x77,0xc2}}
#define O(S, f) printf("\"%s.%s\":%zu,", #S, #f, offsetof(struct S, f))
int main(int argc, char **argv) {
  static unsigned char page[4096];
  FILE *f = fopen(argv[1], "rb");
  if (f == NULL || fread(page, 1, sizeof page, f) != sizeof page) return 2;
  unsigned long base = strtoul(argv[2], NULL, 16);
  printf("{\"sizes\":{\"efi_systbl\":%zu,\"efi_cfgtbl\":%zu,\"linux_efi_memreserve\":%zu,\"entry\":%zu},\"offsets\":{",
    sizeof(struct efi_systbl), sizeof(struct efi_cfgtbl), sizeof(struct linux_efi_memreserve),
    sizeof(struct linux_efi_memreserve_entry));
  O(efi_systbl, st_hdr.th_sig); O(efi_systbl, st_hdr.th_rev); O(efi_systbl, st_hdr.th_hdrsz); O(efi_systbl, st_hdr.th_crc32);
  O(efi_systbl, st_fwvendor); O(efi_systbl, st_fwrev); O(efi_systbl, st_cin); O(efi_systbl, st_cinif);
  O(efi_systbl, st_cout); O(efi_systbl, st_coutif); O(efi_systbl, st_cerr); O(efi_systbl, st_cerrif);
  O(efi_systbl, st_rt); O(efi_systbl, st_bs); O(efi_systbl, st_entries); O(efi_systbl, st_cfgtbl);
  O(efi_cfgtbl, ct_guid); O(efi_cfgtbl, ct_data);
  O(linux_efi_memreserve, mr_size); O(linux_efi_memreserve, mr_count); O(linux_efi_memreserve, mr_next);
  O(linux_efi_memreserve_entry, mre_base); printf("\"linux_efi_memreserve_entry.mre_size\":%zu},",
    offsetof(struct linux_efi_memreserve_entry, mre_size));
  struct efi_systbl *st = (struct efi_systbl *)page;
  efi_guid_t want = LINUX_EFI_MEMRESERVE_TABLE;
  printf("\"sig\":%d,\"entries\":%lu,\"found\":[", st->st_hdr.th_sig == EFI_SYSTBL_SIG, st->st_entries);
  const char *sep = "";
  for (unsigned long i = 0; i < st->st_entries; i++) {
    struct efi_cfgtbl *ct = (struct efi_cfgtbl *)(page + (st->st_cfgtbl - base) + i * sizeof *ct);
    if (memcmp(&ct->ct_guid, &want, sizeof want) != 0) continue;
    struct linux_efi_memreserve *mr = (struct linux_efi_memreserve *)(page + ((unsigned long)ct->ct_data - base));
    printf("{\"size\":%u,\"next\":%lu,\"ranges\":[", mr->mr_size, mr->mr_next);
    for (uint32_t j = 0; j < mr->mr_count; j++)
      printf("%s[\"%lx\",\"%lx\"]", j ? "," : "", mr->mr_entry[j].mre_base, mr->mr_entry[j].mre_size);
    printf("]}%s", sep); sep = ",";
  }
  printf("]}\n");
  return 0;
}
`;

const BASE = 0x8_0020_1000n;
const RANGES = [
  { start: 0x9_7ff0_0000n, size: 0x10000n },
  { start: 0x9_7ff1_0000n, size: 0x2400n },
  { start: 0x9_7ff2_0000n, size: 0x2400n },
];

t.test(
  'the descriptor page agrees with FreeBSD structs compiled by cc, field by field and walked',
  requireTool('cc'),
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kboot-memreserve-c-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const page = encodeItsDescriptors(BASE, RANGES);
    writeFileSync(join(dir, 'page.bin'), page.bytes);
    writeFileSync(join(dir, 'walk.c'), C_SOURCE);
    const cc = spawnSync('cc', ['-std=c11', '-O1', '-o', join(dir, 'walk'), join(dir, 'walk.c')], { encoding: 'utf8' });
    t.equal(cc.status, 0, cc.stderr);
    const run = spawnSync(join(dir, 'walk'), [join(dir, 'page.bin'), BASE.toString(16)], { encoding: 'utf8' });
    t.equal(run.status, 0);
    const c = JSON.parse(run.stdout) as {
      sizes: Record<string, number>;
      offsets: Record<string, number>;
      sig: number;
      entries: number;
      found: { size: number; next: number; ranges: [string, string][] }[];
    };
    t.same(c.sizes, {
      efi_systbl: EfiSystemTable.size,
      efi_cfgtbl: EfiConfigTable.size,
      linux_efi_memreserve: 16,
      entry: 16,
    });
    const o = EfiSystemTable.offsets;
    t.same(c.offsets, {
      'efi_systbl.st_hdr.th_sig': o.thSig,
      'efi_systbl.st_hdr.th_rev': o.thRev,
      'efi_systbl.st_hdr.th_hdrsz': o.thHdrsz,
      'efi_systbl.st_hdr.th_crc32': o.thCrc32,
      'efi_systbl.st_fwvendor': o.stFwvendor,
      'efi_systbl.st_fwrev': o.stFwrev,
      'efi_systbl.st_cin': o.stCin,
      'efi_systbl.st_cinif': o.stCinif,
      'efi_systbl.st_cout': o.stCout,
      'efi_systbl.st_coutif': o.stCoutif,
      'efi_systbl.st_cerr': o.stCerr,
      'efi_systbl.st_cerrif': o.stCerrif,
      'efi_systbl.st_rt': o.stRt,
      'efi_systbl.st_bs': o.stBs,
      'efi_systbl.st_entries': o.stEntries,
      'efi_systbl.st_cfgtbl': o.stCfgtbl,
      'efi_cfgtbl.ct_guid': EfiConfigTable.offsets.ctGuid,
      'efi_cfgtbl.ct_data': EfiConfigTable.offsets.ctData,
      'linux_efi_memreserve.mr_size': LinuxEfiMemreserve.offsets.mrSize,
      'linux_efi_memreserve.mr_count': LinuxEfiMemreserve.offsets.mrCount,
      'linux_efi_memreserve.mr_next': LinuxEfiMemreserve.offsets.mrNext,
      'linux_efi_memreserve_entry.mre_base': LinuxEfiMemreserveEntry.offsets.mreBase,
      'linux_efi_memreserve_entry.mre_size': LinuxEfiMemreserveEntry.offsets.mreSize,
    });
    t.equal(c.sig, 1, 'th_sig == EFI_SYSTBL_SIG');
    t.equal(c.entries, 1);
    t.equal(c.found.length, 1, 'one configuration table entry with the LINUX_EFI_MEMRESERVE_TABLE GUID (memcmp)');
    t.equal(c.found[0]?.next, 0);
    t.same(
      c.found[0]?.ranges,
      RANGES.map((r) => [r.start.toString(16), r.size.toString(16)]),
      'mr_count entries in order',
    );
    t.equal(page.fwHandle, BASE);
    t.equal(page.cfgtbl, BASE + BigInt(ITS_DESCRIPTOR_PAGE.cfgtbl));
    t.end();
  },
);

/** A reader over the page at BASE, with a runtime mapping VA == PA for that page only (or none). */
function pageMemory(bytes: Uint8Array, runtime: boolean) {
  return {
    read: (pa: bigint, len: number) =>
      pa >= BASE && pa + BigInt(len) <= BASE + 0x1000n
        ? bytes.slice(Number(pa - BASE), Number(pa - BASE) + len)
        : undefined,
    runtimeVaToPa: (va: bigint) => (runtime && va >= BASE && va < BASE + 0x1000n ? va : undefined),
  };
}

t.test('walkMemreserve: what exclude_efi_memreserve does with the page', (t) => {
  const page = encodeItsDescriptors(BASE, RANGES);
  const ok = walkMemreserve(pageMemory(page.bytes, true), page.fwHandle);
  t.same(ok, { kind: 'excluded', ranges: RANGES, records: 1 });
  t.same(walkMemreserve(pageMemory(page.bytes, false), page.fwHandle), {
    kind: 'panic',
    message: "Can't map the config table entry 0",
  });
  const bad = page.bytes.slice();
  bad[0] = 0;
  t.equal(walkMemreserve(pageMemory(bad, true), page.fwHandle).kind, 'skipped');
  t.equal(walkMemreserve(pageMemory(page.bytes, true), 0x1000n).kind, 'skipped', 'no systbl there');
  // A chain that points at itself stops at the bound.
  const loop = page.bytes.slice();
  new DataView(loop.buffer).setBigUint64(ITS_DESCRIPTOR_PAGE.memreserve + 8, page.memreserve, true);
  throwsCode(t, () => walkMemreserve(pageMemory(loop, true), page.fwHandle), 'HANDOFF_MEMRESERVE_TOO_LARGE');
  throwsCode(t, () => encodeItsDescriptors(BASE, new Array(300).fill(RANGES[0])), 'HANDOFF_VALUE_RANGE');
  t.end();
});
