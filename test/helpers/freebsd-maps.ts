/**
 * Hand-written FreeBSD memory maps for the importer tests: a UEFI map as `sysctl -b
 * machdep.efi_map` writes it and as `sysctl machdep.efi_map` prints it, and a BIOS map as
 * `sysctl -b machdep.smap` / `sysctl machdep.smap` give it.
 *
 * The binaries are built field by field from the struct layouts (loader/handoff: EfiMapHeader,
 * EfiMd, BiosSmapXattr; sys/sys/efi.h, machine/metadata.h, machine/pc/bios.h): header, zero
 * pad to 32, descriptors 48 bytes apart as most firmware lays them out (the 8 bytes past
 * struct efi_md filled with a marker a reader must skip). The text forms are literal strings
 * typed in the printf formats of sbin/sysctl/sysctl.c S_efi_map ("%23s %012jx %12p %08jx "
 * plus attribute names) and S_bios_smap_xattr — not produced by kboot.
 */
import { EFI_MAP_DESCRIPTORS_OFFSET, EfiMapHeader, EfiMd } from '../../loader/handoff/efimap.js';
import { BiosSmapXattr } from '../../loader/handoff/smap.js';
import { encodeStruct } from '../../loader/handoff/common.js';

const MEM = 0xfn; // UC WC WT WB
const RT = 0x8000_0000_0000_0000n;

/** The descriptors of the example UEFI map (an OVMF-like amd64 PC with 4 GiB and 1 GiB of NVDIMM). */
export const EFI_EXAMPLE = [
  { mdType: 3, mdPhys: 0x0n, mdVirt: 0n, mdPages: 0x1n, mdAttr: MEM },
  { mdType: 7, mdPhys: 0x1000n, mdVirt: 0n, mdPages: 0x9fn, mdAttr: MEM },
  { mdType: 7, mdPhys: 0x10_0000n, mdVirt: 0n, mdPages: 0x700n, mdAttr: MEM },
  { mdType: 2, mdPhys: 0x80_0000n, mdVirt: 0n, mdPages: 0x1000n, mdAttr: MEM },
  { mdType: 7, mdPhys: 0x180_0000n, mdVirt: 0n, mdPages: 0x7_c000n, mdAttr: MEM },
  { mdType: 9, mdPhys: 0x7d80_0000n, mdVirt: 0n, mdPages: 0x10n, mdAttr: MEM },
  { mdType: 10, mdPhys: 0x7d81_0000n, mdVirt: 0n, mdPages: 0x80n, mdAttr: MEM },
  { mdType: 6, mdPhys: 0x7d89_0000n, mdVirt: 0xffff_f800_7d89_0000n, mdPages: 0x100n, mdAttr: MEM | RT },
  { mdType: 5, mdPhys: 0x7d99_0000n, mdVirt: 0xffff_f800_7d99_0000n, mdPages: 0x100n, mdAttr: MEM | RT },
  { mdType: 0, mdPhys: 0x7da9_0000n, mdVirt: 0n, mdPages: 0x570n, mdAttr: 0x1n },
  { mdType: 11, mdPhys: 0xffc0_0000n, mdVirt: 0n, mdPages: 0x400n, mdAttr: 0x1n | RT },
  { mdType: 7, mdPhys: 0x1_0000_0000n, mdVirt: 0n, mdPages: 0x8_0000n, mdAttr: MEM },
  { mdType: 14, mdPhys: 0x1_8000_0000n, mdVirt: 0n, mdPages: 0x4_0000n, mdAttr: MEM },
] as const;

/** `sysctl -b machdep.efi_map` of EFI_EXAMPLE (descriptor_size 48). */
export function efiMapBinary(
  descriptorSize = 48,
  descriptors: readonly (typeof EFI_EXAMPLE)[number][] = EFI_EXAMPLE,
): Uint8Array {
  const memorySize = descriptors.length * descriptorSize;
  const out = new Uint8Array(EFI_MAP_DESCRIPTORS_OFFSET + memorySize);
  out.set(
    encodeStruct(EfiMapHeader, {
      memorySize: BigInt(memorySize),
      descriptorSize: BigInt(descriptorSize),
      descriptorVersion: 1,
    }),
    0,
  );
  descriptors.forEach((d, i) => {
    const at = EFI_MAP_DESCRIPTORS_OFFSET + i * descriptorSize;
    out.set(encodeStruct(EfiMd, d), at);
    out.fill(0xa5, at + EfiMd.size, at + descriptorSize);
  });
  return out;
}

/** `sysctl machdep.efi_map` of EFI_EXAMPLE, typed in S_efi_map's format. */
export const EFI_EXAMPLE_TEXT = [
  'machdep.efi_map: ',
  '                   Type     Physical      Virtual   #Pages Attr',
  '       BootServicesCode 000000000000          0x0 00000001 UC WC WT WB ',
  '     ConventionalMemory 000000001000          0x0 0000009f UC WC WT WB ',
  '     ConventionalMemory 000000100000          0x0 00000700 UC WC WT WB ',
  '             LoaderData 000000800000          0x0 00001000 UC WC WT WB ',
  '     ConventionalMemory 000001800000          0x0 0007c000 UC WC WT WB ',
  '      ACPIReclaimMemory 00007d800000          0x0 00000010 UC WC WT WB ',
  '          ACPIMemoryNVS 00007d810000          0x0 00000080 UC WC WT WB ',
  '    RuntimeServicesData 00007d890000 0xfffff8007d890000 00000100 UC WC WT WB RUNTIME',
  '    RuntimeServicesCode 00007d990000 0xfffff8007d990000 00000100 UC WC WT WB RUNTIME',
  '               Reserved 00007da90000          0x0 00000570 UC ',
  '         MemoryMappedIO 0000ffc00000          0x0 00000400 UC RUNTIME',
  '     ConventionalMemory 000100000000          0x0 00080000 UC WC WT WB ',
  '       PersistentMemory 000180000000          0x0 00040000 UC WC WT WB ',
  '',
].join('\n');

/** The example BIOS map: this project's development VM (its /sys/firmware/memmap) as E820 entries. */
export const SMAP_EXAMPLE = [
  { base: 0x0n, length: 0x9_fc00n, type: 1, xattr: 1 },
  { base: 0x9_fc00n, length: 0x6_0400n, type: 2, xattr: 1 },
  { base: 0x10_0000n, length: 0xbff0_0000n, type: 1, xattr: 1 },
  { base: 0xeec0_0000n, length: 0x1000_0000n, type: 2, xattr: 1 },
  { base: 0xfed1_c000n, length: 0x4000n, type: 4, xattr: 1 },
  { base: 0x1_0000_0000n, length: 0x5_4000_0000n, type: 1, xattr: 1 },
] as const;

/** `sysctl -b machdep.smap` of SMAP_EXAMPLE: packed 24-byte struct bios_smap_xattr entries. */
export function smapBinary(): Uint8Array {
  const out = new Uint8Array(SMAP_EXAMPLE.length * BiosSmapXattr.size);
  SMAP_EXAMPLE.forEach((e, i) => out.set(encodeStruct(BiosSmapXattr, e), i * BiosSmapXattr.size));
  return out;
}

/** `sysctl machdep.smap` of SMAP_EXAMPLE, typed in S_bios_smap_xattr's format. */
export const SMAP_EXAMPLE_TEXT = [
  'machdep.smap: ',
  'SMAP type=01, xattr=01, base=0000000000000000, len=000000000009fc00',
  'SMAP type=02, xattr=01, base=000000000009fc00, len=0000000000060400',
  'SMAP type=01, xattr=01, base=0000000000100000, len=00000000bff00000',
  'SMAP type=02, xattr=01, base=00000000eec00000, len=0000000010000000',
  'SMAP type=04, xattr=01, base=00000000fed1c000, len=0000000000004000',
  'SMAP type=01, xattr=01, base=0000000100000000, len=0000000540000000',
  '',
].join('\n');
