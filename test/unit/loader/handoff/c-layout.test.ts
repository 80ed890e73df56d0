// Independent check of every hand-off struct layout with the host C compiler (gcc/cc, LP64).
// A small C program declares the FreeBSD structs (efi_map_header, efi_md, bios_smap,
// bios_smap_xattr, efi_fb, amd64/arm64 rescue_dump_params and rescue_kernel_params, as in
// machine/metadata.h, sys/sys/efi.h, machine/pc/bios.h, machine/rescue.h), prints sizeof and
// offsetof of every field, and dumps an instance whose fields are tagged with their own
// offsets; the test compares both with kboot's layouts and encoders. vm_paddr_t, vm_size_t,
// vm_offset_t and size_t are 64-bit and int is 32-bit with natural alignment on both amd64
// and arm64 (LP64), so the x86-64 compiler lays out the arm64 structs as an arm64 one would.
// Skips only when no C compiler is installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Field, Layout } from '../../../../loader/bytes/index.js';
import { EfiFb } from '../../../../loader/handoff/efifb.js';
import { EfiMapHeader, EfiMd } from '../../../../loader/handoff/efimap.js';
import {
  Amd64RescueDumpParams,
  Amd64RescueKernelParams,
  Arm64RescueDumpParams,
  Arm64RescueKernelParams,
  encodeRescueParams,
} from '../../../../loader/handoff/params.js';
import { BiosSmap, BiosSmapXattr } from '../../../../loader/handoff/smap.js';
import { toHex } from './hex.js';
import { requireTool } from '../../../helpers/tools.js';

const CC = process.env['CC'] ?? 'cc';
/** The compiler is an independent tool: `cc` from the registry, or the one $CC names. */
function needCompiler(): { skip?: string } {
  if (process.env['CC'] === undefined) return requireTool('cc');
  return spawnSync(CC, ['--version'], { stdio: 'ignore' }).status === 0 ? {} : { skip: `no C compiler (${CC})` };
}

const C_SOURCE = String.raw`
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct efi_map_header { uint64_t memory_size; uint64_t descriptor_size; uint32_t descriptor_version; };
struct efi_md { uint32_t md_type; uint32_t md_pad; uint64_t md_phys; uint64_t md_virt; uint64_t md_pages; uint64_t md_attr; };
struct bios_smap { uint64_t base; uint64_t length; uint32_t type; } __attribute__((packed));
struct bios_smap_xattr { uint64_t base; uint64_t length; uint32_t type; uint32_t xattr; } __attribute__((packed));
struct efi_fb { uint64_t fb_addr; uint64_t fb_size; uint32_t fb_height; uint32_t fb_width; uint32_t fb_stride;
  uint32_t fb_mask_red; uint32_t fb_mask_green; uint32_t fb_mask_blue; uint32_t fb_mask_reserved; };
struct amd64_dump { uint64_t dp_msgbufpa, dp_msgbufsz, dp_vmdumppa, dp_vmdumpsz, dp_dumpavailpa, dp_kernpml4pa,
  dp_kernstart, dp_kernend, dp_kernmax, dp_dmapmin, dp_dmapmax; };
struct amd64_kernel { struct amd64_dump kp_dumpparams; uint64_t kp_efimapstart, kp_efimaplen, kp_smapstart,
  kp_smaplen, kp_kenvstart, kp_kenvlen, kp_kernstart, kp_efifbaddr; int kp_boothowto; };
struct arm64_dump { uint64_t dp_msgbufpa, dp_msgbufsz, dp_vmdumppa, dp_vmdumpsz, dp_dumpavailpa, dp_kernl0pa,
  dp_kernstart, dp_kernend, dp_kernmax, dp_dmapbasepa, dp_dmapmin, dp_dmapmax; };
struct arm64_kernel { struct arm64_dump kp_dumpparams; uint64_t kp_dtbstart, kp_dtblen, kp_efimapstart,
  kp_efimaplen, kp_efifbaddr, kp_kenvstart, kp_kenvlen, kp_kernstart; int kp_boothowto; };

static const char *sep;
#define BEGIN(S, v) do { memset(&v, 0, sizeof v); printf("{\"name\":\"%s\",\"size\":%zu,\"offsets\":{", #S, sizeof(struct S)); sep = ""; } while (0)
#define OFF(S, f) printf("%s\"%s\":%zu", sep, #f, offsetof(struct S, f)), sep = ","
#define U64(S, v, f) (v.f = 0xa000000000000000ull | offsetof(struct S, f), OFF(S, f))
#define U32(S, v, f) (v.f = 0xb0000000u | (uint32_t)offsetof(struct S, f), OFF(S, f))
#define INT(S, v, f) (v.f = -2, OFF(S, f))
static void end(const void *p, size_t n) {
  printf("},\"bytes\":\"");
  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
  printf("\"}\n");
}

int main(void) {
  struct efi_map_header h; BEGIN(efi_map_header, h);
  U64(efi_map_header, h, memory_size); U64(efi_map_header, h, descriptor_size); U32(efi_map_header, h, descriptor_version);
  end(&h, sizeof h);

  struct efi_md m; BEGIN(efi_md, m);
  U32(efi_md, m, md_type); U64(efi_md, m, md_phys); U64(efi_md, m, md_virt); U64(efi_md, m, md_pages); U64(efi_md, m, md_attr);
  end(&m, sizeof m);

  struct bios_smap s; BEGIN(bios_smap, s);
  U64(bios_smap, s, base); U64(bios_smap, s, length); U32(bios_smap, s, type);
  end(&s, sizeof s);

  struct bios_smap_xattr x; BEGIN(bios_smap_xattr, x);
  U64(bios_smap_xattr, x, base); U64(bios_smap_xattr, x, length); U32(bios_smap_xattr, x, type); U32(bios_smap_xattr, x, xattr);
  end(&x, sizeof x);

  struct efi_fb f; BEGIN(efi_fb, f);
  U64(efi_fb, f, fb_addr); U64(efi_fb, f, fb_size); U32(efi_fb, f, fb_height); U32(efi_fb, f, fb_width);
  U32(efi_fb, f, fb_stride); U32(efi_fb, f, fb_mask_red); U32(efi_fb, f, fb_mask_green); U32(efi_fb, f, fb_mask_blue);
  U32(efi_fb, f, fb_mask_reserved);
  end(&f, sizeof f);

  struct amd64_dump ad; BEGIN(amd64_dump, ad);
  U64(amd64_dump, ad, dp_msgbufpa); U64(amd64_dump, ad, dp_msgbufsz); U64(amd64_dump, ad, dp_vmdumppa);
  U64(amd64_dump, ad, dp_vmdumpsz); U64(amd64_dump, ad, dp_dumpavailpa); U64(amd64_dump, ad, dp_kernpml4pa);
  U64(amd64_dump, ad, dp_kernstart); U64(amd64_dump, ad, dp_kernend); U64(amd64_dump, ad, dp_kernmax);
  U64(amd64_dump, ad, dp_dmapmin); U64(amd64_dump, ad, dp_dmapmax);
  end(&ad, sizeof ad);

  struct amd64_kernel ak; BEGIN(amd64_kernel, ak);
  U64(amd64_kernel, ak, kp_dumpparams.dp_msgbufpa); U64(amd64_kernel, ak, kp_dumpparams.dp_msgbufsz);
  U64(amd64_kernel, ak, kp_dumpparams.dp_vmdumppa); U64(amd64_kernel, ak, kp_dumpparams.dp_vmdumpsz);
  U64(amd64_kernel, ak, kp_dumpparams.dp_dumpavailpa); U64(amd64_kernel, ak, kp_dumpparams.dp_kernpml4pa);
  U64(amd64_kernel, ak, kp_dumpparams.dp_kernstart); U64(amd64_kernel, ak, kp_dumpparams.dp_kernend);
  U64(amd64_kernel, ak, kp_dumpparams.dp_kernmax); U64(amd64_kernel, ak, kp_dumpparams.dp_dmapmin);
  U64(amd64_kernel, ak, kp_dumpparams.dp_dmapmax);
  U64(amd64_kernel, ak, kp_efimapstart); U64(amd64_kernel, ak, kp_efimaplen); U64(amd64_kernel, ak, kp_smapstart);
  U64(amd64_kernel, ak, kp_smaplen); U64(amd64_kernel, ak, kp_kenvstart); U64(amd64_kernel, ak, kp_kenvlen);
  U64(amd64_kernel, ak, kp_kernstart); U64(amd64_kernel, ak, kp_efifbaddr); INT(amd64_kernel, ak, kp_boothowto);
  end(&ak, sizeof ak);

  struct arm64_dump rd; BEGIN(arm64_dump, rd);
  U64(arm64_dump, rd, dp_msgbufpa); U64(arm64_dump, rd, dp_msgbufsz); U64(arm64_dump, rd, dp_vmdumppa);
  U64(arm64_dump, rd, dp_vmdumpsz); U64(arm64_dump, rd, dp_dumpavailpa); U64(arm64_dump, rd, dp_kernl0pa);
  U64(arm64_dump, rd, dp_kernstart); U64(arm64_dump, rd, dp_kernend); U64(arm64_dump, rd, dp_kernmax);
  U64(arm64_dump, rd, dp_dmapbasepa); U64(arm64_dump, rd, dp_dmapmin); U64(arm64_dump, rd, dp_dmapmax);
  end(&rd, sizeof rd);

  struct arm64_kernel rk; BEGIN(arm64_kernel, rk);
  U64(arm64_kernel, rk, kp_dumpparams.dp_msgbufpa); U64(arm64_kernel, rk, kp_dumpparams.dp_msgbufsz);
  U64(arm64_kernel, rk, kp_dumpparams.dp_vmdumppa); U64(arm64_kernel, rk, kp_dumpparams.dp_vmdumpsz);
  U64(arm64_kernel, rk, kp_dumpparams.dp_dumpavailpa); U64(arm64_kernel, rk, kp_dumpparams.dp_kernl0pa);
  U64(arm64_kernel, rk, kp_dumpparams.dp_kernstart); U64(arm64_kernel, rk, kp_dumpparams.dp_kernend);
  U64(arm64_kernel, rk, kp_dumpparams.dp_kernmax); U64(arm64_kernel, rk, kp_dumpparams.dp_dmapbasepa);
  U64(arm64_kernel, rk, kp_dumpparams.dp_dmapmin); U64(arm64_kernel, rk, kp_dumpparams.dp_dmapmax);
  U64(arm64_kernel, rk, kp_dtbstart); U64(arm64_kernel, rk, kp_dtblen); U64(arm64_kernel, rk, kp_efimapstart);
  U64(arm64_kernel, rk, kp_efimaplen); U64(arm64_kernel, rk, kp_efifbaddr); U64(arm64_kernel, rk, kp_kenvstart);
  U64(arm64_kernel, rk, kp_kenvlen); U64(arm64_kernel, rk, kp_kernstart); INT(arm64_kernel, rk, kp_boothowto);
  end(&rk, sizeof rk);
  return 0;
}
`;

interface CStruct {
  readonly name: string;
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
  readonly bytes: string;
}

type AnyLayout = Layout<readonly Field<string, unknown>[]>;

/** `kp_dumpparams.dp_msgbufpa` → `dpMsgbufpa`; `fb_mask_red` → `fbMaskRed`. */
function camel(cName: string): string {
  const last = cName.split('.').pop() ?? cName;
  return last.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The tagged sample the C program builds, encoded by kboot from kboot's own offsets. */
function taggedValues(layout: AnyLayout): Record<string, bigint | number> {
  const offsets = layout.offsets as Readonly<Record<string, number>>;
  const out: Record<string, bigint | number> = {};
  for (const f of layout.fields) {
    if (f.kind === 'pad') continue;
    const off = offsets[f.name] ?? -1;
    out[f.name] = f.kind === 'u64' ? (0xa0n << 56n) | BigInt(off) : (0xb000_0000 | off) >>> 0;
  }
  return out;
}

const CASES: readonly { c: string; layout: AnyLayout; encode?: (v: Record<string, bigint | number>) => Uint8Array }[] =
  [
    { c: 'efi_map_header', layout: EfiMapHeader as unknown as AnyLayout },
    { c: 'efi_md', layout: EfiMd as unknown as AnyLayout },
    { c: 'bios_smap', layout: BiosSmap as unknown as AnyLayout },
    { c: 'bios_smap_xattr', layout: BiosSmapXattr as unknown as AnyLayout },
    { c: 'efi_fb', layout: EfiFb as unknown as AnyLayout },
    { c: 'amd64_dump', layout: Amd64RescueDumpParams as unknown as AnyLayout },
    {
      c: 'amd64_kernel',
      layout: Amd64RescueKernelParams as unknown as AnyLayout,
      encode: (v) => encodeRescueParams('amd64', { ...v, kpBoothowto: -2 }),
    },
    { c: 'arm64_dump', layout: Arm64RescueDumpParams as unknown as AnyLayout },
    {
      c: 'arm64_kernel',
      layout: Arm64RescueKernelParams as unknown as AnyLayout,
      encode: (v) => encodeRescueParams('arm64', { ...v, kpBoothowto: -2 }),
    },
  ];

t.test('struct layouts agree with the C compiler (cc/gcc)', needCompiler(), (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-clayout-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'layout.c'), C_SOURCE);
  const cc = spawnSync(CC, ['-std=gnu11', '-Wall', '-Werror', '-o', join(dir, 'layout'), join(dir, 'layout.c')], {
    encoding: 'utf8',
  });
  t.equal(cc.status, 0, `cc compiles the layout program ${cc.stderr}`);
  const run = spawnSync(join(dir, 'layout'), [], { encoding: 'utf8' });
  t.equal(run.status, 0, 'layout program runs');
  const structs = new Map(
    run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as CStruct)
      .map((s) => [s.name, s] as const),
  );
  for (const { c, layout, encode } of CASES) {
    const s = structs.get(c);
    t.ok(s, `${c} printed`);
    if (s === undefined) continue;
    t.equal(layout.size, s.size, `${c}: sizeof`);
    const ours = layout.offsets as Readonly<Record<string, number>>;
    const theirs = Object.fromEntries(Object.entries(s.offsets).map(([k, v]) => [camel(k), v]));
    t.same(ours, theirs, `${c}: offsetof every field`);
    const values = taggedValues(layout);
    const bytes = encode === undefined ? layout.encode(values as never) : encode(values);
    t.equal(toHex(bytes), toHex(Uint8Array.from(s.bytes.match(/../g) ?? [], (h) => parseInt(h, 16))), `${c}: bytes`);
  }
  t.end();
});
