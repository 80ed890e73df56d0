/**
 * GICv3 ITS hand-off descriptors in the EFI form Linux and FreeBSD share: an EFI system table
 * whose configuration table carries a LINUX_EFI_MEMRESERVE entry (GUID
 * 888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2) pointing at a chain of `struct linux_efi_memreserve`
 * records, each listing (base, size) ranges the next kernel must not allocate.
 *
 * Sources: FreeBSD sys/sys/efi.h (struct efi_tblhdr, efi_systbl, efi_cfgtbl,
 * linux_efi_memreserve{,_entry}, EFI_SYSTBL_SIG, LINUX_EFI_MEMRESERVE_TABLE), the arm64/loongarch
 * machdep.c `exclude_efi_memreserve` (signature check; st_cfgtbl is a firmware VA mapped
 * through an EFI_MD_ATTR_RT descriptor of the EFI map — efi_early_map — else it panics
 * "Can't map the config table entry %d"; ct_data and mr_next are PAs; mr_count entries are
 * excluded), Linux include/linux/efi.h (the GUID; `size` holds the record's capacity in
 * entries: UNVERIFIED here, FreeBSD's comment calls it a byte size and never reads it).
 *
 * Contract: `encodeItsDescriptors(base, ranges)` builds one 4 KiB page meant to sit at PA
 * `base` (system table at +0, one configuration table entry at +128, one memreserve record
 * at +160 listing every range); more ranges than a page holds is HANDOFF_VALUE_RANGE.
 * `walkMemreserve(mem, fwHandle)` does what exclude_efi_memreserve does through a reader of
 * physical memory and the EFI map's runtime descriptors, bounded (entries, chain links,
 * records), and reports FreeBSD's outcome; only HandoffError escapes (HANDOFF_TRUNCATED when
 * `mem.read` cannot supply bytes, HANDOFF_MEMRESERVE_TOO_LARGE past a bound).
 */
import { defineLayout, pad, bytes, u32, u64 } from '../bytes/index.js';
import { hex } from '../addr.js';
import { HandoffCode, HandoffError } from './errors.js';

/** EFI_SYSTBL_SIG: "IBI SYST". */
export const EFI_SYSTBL_SIG = 0x5453595320494249n;
/** LINUX_EFI_MEMRESERVE_TABLE as text. */
export const LINUX_EFI_MEMRESERVE_GUID = '888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2';
/** EFI system table revision kboot writes (2.70) and the header size it declares. */
const SYSTBL_REVISION = (2 << 16) | 70;

/** `struct efi_systbl` with its `struct efi_tblhdr` (sys/sys/efi.h, LP64). */
export const EfiSystemTable = defineLayout(
  'efi_systbl',
  [
    u64('thSig', { at: 0 }),
    u32('thRev', { at: 8 }),
    u32('thHdrsz', { at: 12 }),
    u32('thCrc32', { at: 16 }),
    pad(4, { at: 20 }),
    u64('stFwvendor', { at: 24 }),
    u32('stFwrev', { at: 32 }),
    pad(4, { at: 36 }),
    u64('stCin', { at: 40 }),
    u64('stCinif', { at: 48 }),
    u64('stCout', { at: 56 }),
    u64('stCoutif', { at: 64 }),
    u64('stCerr', { at: 72 }),
    u64('stCerrif', { at: 80 }),
    u64('stRt', { at: 88 }),
    u64('stBs', { at: 96 }),
    u64('stEntries', { at: 104 }),
    u64('stCfgtbl', { at: 112 }),
  ],
  { size: 120 },
);

/** `struct efi_cfgtbl`: efi_guid_t then a pointer (a PA for the memreserve GUID). */
export const EfiConfigTable = defineLayout('efi_cfgtbl', [bytes('ctGuid', 16, { at: 0 }), u64('ctData', { at: 16 })], {
  size: 24,
});

/** `struct linux_efi_memreserve` without its flexible array. */
export const LinuxEfiMemreserve = defineLayout(
  'linux_efi_memreserve',
  [u32('mrSize', { at: 0 }), u32('mrCount', { at: 4 }), u64('mrNext', { at: 8 })],
  { size: 16 },
);

/** `struct linux_efi_memreserve_entry`. */
export const LinuxEfiMemreserveEntry = defineLayout(
  'linux_efi_memreserve_entry',
  [u64('mreBase', { at: 0 }), u64('mreSize', { at: 8 })],
  { size: 16 },
);

/**
 * kboot's proposed extension of struct rescue_kernel_params (memreserve mode only): right after
 * the params, a magic ("KBFWHNDL" in little-endian bytes) then the EFI system table's PA that
 * rescue_preload_init would pass on as MODINFOMD_FW_HANDLE. D47358 has no such field.
 */
export const RescueFwHandleExt = defineLayout(
  'kboot.rescue_params_fw_handle',
  [u64('magic', { at: 0 }), u64('fwHandle', { at: 8 })],
  { size: 16 },
);
/** "KBFWHNDL" read as a little-endian u64. */
export const RESCUE_FW_HANDLE_MAGIC = 0x4c444e4857464b42n;

/** Where each part sits in the descriptor page kboot builds. */
export const ITS_DESCRIPTOR_PAGE = { size: 0x1000, systbl: 0, cfgtbl: 128, memreserve: 160 } as const;
/** Most ranges one descriptor page lists. */
export const ITS_DESCRIPTOR_MAX_RANGES = Math.floor(
  (ITS_DESCRIPTOR_PAGE.size - ITS_DESCRIPTOR_PAGE.memreserve - LinuxEfiMemreserve.size) / LinuxEfiMemreserveEntry.size,
);

/** The 16 bytes of an efi_guid_t from its text form (Data1..3 little-endian, Data4 as written). */
export function guidBytes(text: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (m === null) {
    throw new HandoffError(HandoffCode.ValueRange, `handoff: '${text}' is not a GUID`, { guid: text });
  }
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, parseInt(m[1] ?? '0', 16), true);
  dv.setUint16(4, parseInt(m[2] ?? '0', 16), true);
  dv.setUint16(6, parseInt(m[3] ?? '0', 16), true);
  const tail = `${m[4] ?? ''}${m[5] ?? ''}`;
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(tail.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A range the descriptors list. */
export interface ReservedSpan {
  readonly start: bigint;
  readonly size: bigint;
}

/** The descriptor page for PA `base` (see the module contract); `fwHandle` is the system table's PA. */
export function encodeItsDescriptors(
  base: bigint,
  ranges: readonly ReservedSpan[],
): { readonly bytes: Uint8Array; readonly fwHandle: bigint; readonly cfgtbl: bigint; readonly memreserve: bigint } {
  if (ranges.length > ITS_DESCRIPTOR_MAX_RANGES || base % 0x1000n !== 0n) {
    throw new HandoffError(
      HandoffCode.ValueRange,
      `handoff: ${ranges.length} reserved ranges at ${hex(base)} do not fit one page-aligned descriptor page (at most ${ITS_DESCRIPTOR_MAX_RANGES})`,
      { ranges: ranges.length, base, max: ITS_DESCRIPTOR_MAX_RANGES },
    );
  }
  const page = new Uint8Array(ITS_DESCRIPTOR_PAGE.size);
  const cfgtbl = base + BigInt(ITS_DESCRIPTOR_PAGE.cfgtbl);
  const memreserve = base + BigInt(ITS_DESCRIPTOR_PAGE.memreserve);
  const zero = { stFwvendor: 0n, stCin: 0n, stCinif: 0n, stCout: 0n, stCoutif: 0n, stCerr: 0n, stCerrif: 0n };
  EfiSystemTable.encodeInto(page, ITS_DESCRIPTOR_PAGE.systbl, {
    thSig: EFI_SYSTBL_SIG,
    thRev: SYSTBL_REVISION,
    thHdrsz: EfiSystemTable.size,
    thCrc32: 0,
    stFwrev: 0,
    ...zero,
    stRt: 0n,
    stBs: 0n,
    stEntries: 1n,
    stCfgtbl: cfgtbl,
  });
  EfiConfigTable.encodeInto(page, ITS_DESCRIPTOR_PAGE.cfgtbl, {
    ctGuid: guidBytes(LINUX_EFI_MEMRESERVE_GUID),
    ctData: memreserve,
  });
  LinuxEfiMemreserve.encodeInto(page, ITS_DESCRIPTOR_PAGE.memreserve, {
    mrSize: ITS_DESCRIPTOR_MAX_RANGES,
    mrCount: ranges.length,
    mrNext: 0n,
  });
  ranges.forEach((r, i) => {
    const at = ITS_DESCRIPTOR_PAGE.memreserve + LinuxEfiMemreserve.size + i * LinuxEfiMemreserveEntry.size;
    LinuxEfiMemreserveEntry.encodeInto(page, at, { mreBase: r.start, mreSize: r.size });
  });
  return { bytes: page, fwHandle: base + BigInt(ITS_DESCRIPTOR_PAGE.systbl), cfgtbl, memreserve };
}

/** What the walker reads through: physical memory, and the EFI runtime mapping of st_cfgtbl. */
export interface MemreserveMemory {
  /** `len` bytes at physical `pa`, or undefined where the kernel's direct map has nothing. */
  read(pa: bigint, len: number): Uint8Array | undefined;
  /** efi_early_map: the PA of a firmware VA inside an EFI_MD_ATTR_RT descriptor, else undefined. */
  runtimeVaToPa(va: bigint): bigint | undefined;
}

/** Bounds of a walk. */
export interface MemreserveLimits {
  readonly maxConfigEntries?: number;
  readonly maxChain?: number;
  readonly maxEntriesPerRecord?: number;
}
const DEFAULT_LIMITS: Required<MemreserveLimits> = { maxConfigEntries: 256, maxChain: 64, maxEntriesPerRecord: 4096 };

/** What exclude_efi_memreserve does with a FW_HANDLE. */
export type MemreserveOutcome =
  | { readonly kind: 'excluded'; readonly ranges: readonly ReservedSpan[]; readonly records: number }
  | { readonly kind: 'skipped'; readonly why: string }
  | { readonly kind: 'panic'; readonly message: string };

function readOrThrow(mem: MemreserveMemory, pa: bigint, len: number, what: string): Uint8Array {
  const b = mem.read(pa, len);
  if (b?.length !== len) {
    throw new HandoffError(HandoffCode.Truncated, `handoff: cannot read ${what} (${len} bytes at ${hex(pa)})`, {
      what,
      pa,
      len,
    });
  }
  return b;
}

function tooLarge(what: string, n: bigint | number, max: number): HandoffError {
  return new HandoffError(HandoffCode.MemreserveTooLarge, `handoff: ${what} ${String(n)} exceeds the limit ${max}`, {
    what,
    count: n,
    max,
  });
}

/** One memreserve chain from its first record's PA: every entry, bounded. */
function walkChain(mem: MemreserveMemory, first: bigint, lim: Required<MemreserveLimits>, out: ReservedSpan[]): number {
  let pa = first;
  for (let link = 0; ; link++) {
    if (link >= lim.maxChain) throw tooLarge('memreserve chain length', link + 1, lim.maxChain);
    const head = LinuxEfiMemreserve.decode(readOrThrow(mem, pa, LinuxEfiMemreserve.size, 'linux_efi_memreserve'));
    if (head.mrCount > lim.maxEntriesPerRecord)
      throw tooLarge('memreserve mr_count', head.mrCount, lim.maxEntriesPerRecord);
    const body = readOrThrow(
      mem,
      pa + BigInt(LinuxEfiMemreserve.size),
      head.mrCount * LinuxEfiMemreserveEntry.size,
      'memreserve entries',
    );
    for (let j = 0; j < head.mrCount; j++) {
      const e = LinuxEfiMemreserveEntry.decode(body, j * LinuxEfiMemreserveEntry.size);
      out.push({ start: e.mreBase, size: e.mreSize });
    }
    if (head.mrNext === 0n) return link + 1;
    pa = head.mrNext;
  }
}

/** exclude_efi_memreserve(fwHandle) (see the module contract). */
export function walkMemreserve(
  mem: MemreserveMemory,
  fwHandle: bigint,
  limits: MemreserveLimits = {},
): MemreserveOutcome {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const raw = mem.read(fwHandle, EfiSystemTable.size);
  if (raw?.length !== EfiSystemTable.size) return { kind: 'skipped', why: `can't map systbl at ${hex(fwHandle)}` };
  const st = EfiSystemTable.decode(raw);
  if (st.thSig !== EFI_SYSTBL_SIG) return { kind: 'skipped', why: `Bad signature for systbl ${hex(st.thSig)}` };
  if (st.stCfgtbl === 0n) return { kind: 'skipped', why: 'st_cfgtbl is 0' };
  if (st.stEntries > BigInt(lim.maxConfigEntries)) throw tooLarge('st_entries', st.stEntries, lim.maxConfigEntries);
  const guid = guidBytes(LINUX_EFI_MEMRESERVE_GUID);
  const ranges: ReservedSpan[] = [];
  let records = 0;
  for (let i = 0; i < Number(st.stEntries); i++) {
    const va = st.stCfgtbl + BigInt(i * EfiConfigTable.size);
    const pa = mem.runtimeVaToPa(va);
    if (pa === undefined) return { kind: 'panic', message: `Can't map the config table entry ${i}` };
    const ct = EfiConfigTable.decode(readOrThrow(mem, pa, EfiConfigTable.size, 'efi_cfgtbl'));
    if (!ct.ctGuid.every((b, k) => b === guid[k])) continue;
    records += walkChain(mem, ct.ctData, lim, ranges);
  }
  return { kind: 'excluded', ranges, records };
}
