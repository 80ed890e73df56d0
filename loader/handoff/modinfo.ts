/**
 * FreeBSD preload metadata ("modinfo"): the record list a loader leaves at `modulep` to
 * tell the kernel what it loaded (kernel, modules) and hand it per-module metadata (HOWTO,
 * ENVP, KERNEND, EFI_MAP, ...). Spec: shared/spec/freebsd-handoff.md §1.1–§1.5.
 *
 * Contract:
 * - Record = `u32 type`, `u32 size`, `size` data bytes, zero padding to 8 (MOD_ALIGN of a
 *   64-bit kernel; the kernel steps `roundup(8 + size, sizeof(u_long))`). The list ends
 *   with one END record (type 0, size 0). Sources: stand/common/modinfo.c md_copymodules,
 *   sys/kern/subr_module.c (preload_search_* walkers), sys/sys/linker.h (numbers).
 * - encodeModinfo writes each module as md_copymodules does: NAME first, TYPE, ARGS if
 *   present, ADDR (u64), SIZE (u64), then every metadata item as MODINFO_METADATA|type,
 *   skipping items with the MODINFOMD_NOCOPY bit. With `{ kernend }` it follows bi_load
 *   (stand/efi/loader/bootinfo.c): measure the blob without writing, ask for the kernend
 *   value (bi_load: `roundup(addr + size, PAGE_SIZE)`), patch the kernel module's KERNEND
 *   item, then write — the size cannot change, because KERNEND is a fixed 8 bytes.
 * - decodeModinfo stops at END, bounds the record count and each record's size, and
 *   throws only HandoffError (fuzz contract); groupModules turns records into modules and
 *   insists that NAME starts each one, as the kernel's walkers assume.
 * - Metadata numbers in `PreloadedModule.metadata` are MODINFOMD_* values WITHOUT the
 *   0x8000 MODINFO_METADATA bit. Machine-dependent numbers differ per arch (EFI_MAP is
 *   0x1004 on amd64, 0x1001 on arm64): take them from archInfo(arch).modinfomd.
 */
import { hex } from '../addr.js';
import { type Arch } from '../arch/index.js';
import { MODINFOMD as AMD64_MODINFOMD } from '../arch/amd64/layout.js';
import { MODINFOMD as ARM64_MODINFOMD } from '../arch/arm64/layout.js';
import { ByteReader, ByteWriter, defineLayout, u32 } from '../bytes/index.js';
import { checkIntRange, checkUnsigned, truncated } from './common.js';
import { HandoffCode, HandoffError } from './errors.js';

/** Generic module-information record types (sys/sys/linker.h, "Module information subtypes"). */
export const MODINFO = {
  END: 0x0000,
  NAME: 0x0001,
  TYPE: 0x0002,
  ADDR: 0x0003,
  SIZE: 0x0004,
  EMPTY: 0x0005,
  ARGS: 0x0006,
  METADATA: 0x8000,
} as const;

/**
 * Generic metadata types (sys/sys/linker.h). ENVP, HOWTO and KERNEND are MD on powerpc
 * only; MB2HDR shares 0x0006 with ENVP (Multiboot2 only). DEPLIST carries NOCOPY.
 */
export const MODINFOMD = {
  AOUTEXEC: 0x0001,
  ELFHDR: 0x0002,
  SSYM: 0x0003,
  ESYM: 0x0004,
  DYNAMIC: 0x0005,
  MB2HDR: 0x0006,
  ENVP: 0x0006,
  HOWTO: 0x0007,
  KERNEND: 0x0008,
  SHDR: 0x0009,
  CTORS_ADDR: 0x000a,
  CTORS_SIZE: 0x000b,
  FW_HANDLE: 0x000c,
  KEYBUF: 0x000d,
  FONT: 0x000e,
  SPLASH: 0x000f,
  NOCOPY: 0x8000,
  DEPLIST: 0x4001 | 0x8000,
} as const;

/** MOD_ALIGN for a 64-bit kernel: `roundup(len, sizeof(uint64_t))` (stand/common/modinfo.c). */
export const MODINFO_ALIGN = 8;

/**
 * Module types the kernel accepts for itself, in lookup order: native_parse_preload_data
 * and rescue_kernel_init call preload_search_by_type("elf kernel"), then "elf64 kernel".
 */
export const KERNEL_MODULE_TYPES = ['elf kernel', 'elf64 kernel'] as const;

/** The 8-byte header of every record (`uint32_t hdr[2]` in subr_module.c). */
export const ModinfoHeader = defineLayout('modinfo record header', [u32('type', { at: 0 }), u32('size', { at: 4 })], {
  size: 8,
});

/** Largest MODINFOMD_* number encodeModinfo accepts (md_type is stored in the low 16 bits). */
const MAX_MD_TYPE = 0xffff;

/** One raw record as found in the list (END excluded). */
export interface ModinfoRecord {
  readonly type: number;
  readonly data: Uint8Array;
}

/** One metadata item: `type` is a MODINFOMD_* number without the MODINFO_METADATA bit. */
export interface ModinfoMetadata {
  readonly type: number;
  readonly data: Uint8Array;
}

/** A loaded file as md_copymodules describes it (struct preloaded_file in stand/common/bootstrap.h). */
export interface PreloadedModule {
  readonly name: string;
  readonly type: string;
  readonly args?: string;
  /** MODINFO_ADDR: on amd64 an offset from the kernel's physical load base (KERNBASE-relative), §1.5. */
  readonly addr: bigint;
  readonly size: bigint;
  readonly metadata: readonly ModinfoMetadata[];
}

/** Options of encodeModinfo. */
export interface EncodeModinfoOptions {
  /**
   * Called once with the exact blob size (measured without writing); the value returned
   * replaces the data of the kernel module's MODINFOMD_KERNEND item, which must exist and
   * be 8 bytes (as bi_load adds a placeholder before measuring).
   */
  readonly kernend?: (blobSize: number) => bigint;
}

/** Bounds for decodeModinfo. */
export interface ModinfoLimits {
  /** Most records (END excluded) accepted; default 4096. */
  readonly maxRecords?: number;
  /** Largest record data accepted, in bytes; default 16 MiB. */
  readonly maxRecordSize?: number;
}

/** Default decoder limits. */
export const DEFAULT_MODINFO_LIMITS: Required<ModinfoLimits> = { maxRecords: 4096, maxRecordSize: 16 << 20 };

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** An 8-byte little-endian metadata value (`scratch64`, e.g. ENVP, KERNEND, FW_HANDLE). */
export function mdU64(v: bigint): Uint8Array {
  checkUnsigned(v, 64, 'modinfo u64 metadata value');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v, true);
  return out;
}

/** A 4-byte little-endian C `int` metadata value (bi_load adds HOWTO as `sizeof(int)`). */
export function mdInt(v: number): Uint8Array {
  checkIntRange(v, -0x8000_0000, 0x7fff_ffff, 'modinfo int metadata value');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, v, true);
  return out;
}

/** Reads an 8-byte metadata value; anything but 8 bytes is HANDOFF_MODINFO_BAD_RECORD. */
export function readMdU64(data: Uint8Array): bigint {
  if (data.length !== 8) {
    throw new HandoffError(
      HandoffCode.ModinfoBadRecord,
      `handoff: u64 metadata has the wrong size (${hex(data.length)} bytes, need 0x8)`,
      {
        length: data.length,
      },
    );
  }
  return new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true);
}

/**
 * Reads a C `int` metadata value from the first 4 bytes, as MD_FETCH(kmdp, ..., int) does on
 * a little-endian machine: it accepts the loader's 4-byte HOWTO and the rescue kernel's
 * 8-byte one (spec §10.1). Fewer than 4 bytes is HANDOFF_MODINFO_BAD_RECORD.
 */
export function readMdInt(data: Uint8Array): number {
  if (data.length < 4) {
    throw new HandoffError(
      HandoffCode.ModinfoBadRecord,
      `handoff: int metadata is too short (${hex(data.length)} bytes, need 0x4)`,
      {
        length: data.length,
      },
    );
  }
  return new DataView(data.buffer, data.byteOffset, 4).getInt32(0, true);
}

function encodeString(s: string, what: string): Uint8Array {
  const enc = utf8.encode(s);
  if (enc.includes(0)) {
    throw new HandoffError(HandoffCode.BadString, `handoff: ${what} contains a NUL byte (${JSON.stringify(s)})`, {
      what,
      value: s,
    });
  }
  const out = new Uint8Array(enc.length + 1);
  out.set(enc);
  return out;
}

function writeRecord(w: ByteWriter, type: number, data: Uint8Array, what: string): void {
  checkIntRange(data.length, 0, 0xffff_ffff, `${what} length`);
  w.u32(type).u32(data.length).bytes(data).align(MODINFO_ALIGN);
}

function writeModules(w: ByteWriter, modules: readonly PreloadedModule[]): void {
  modules.forEach((m, i) => {
    const where = `module ${i} (${JSON.stringify(m.name)})`;
    writeRecord(w, MODINFO.NAME, encodeString(m.name, `${where} MODINFO_NAME`), `${where} MODINFO_NAME`);
    writeRecord(w, MODINFO.TYPE, encodeString(m.type, `${where} MODINFO_TYPE`), `${where} MODINFO_TYPE`);
    if (m.args !== undefined) {
      writeRecord(w, MODINFO.ARGS, encodeString(m.args, `${where} MODINFO_ARGS`), `${where} MODINFO_ARGS`);
    }
    writeRecord(w, MODINFO.ADDR, mdU64(checkUnsigned(m.addr, 64, `${where} MODINFO_ADDR`)), `${where} MODINFO_ADDR`);
    writeRecord(w, MODINFO.SIZE, mdU64(checkUnsigned(m.size, 64, `${where} MODINFO_SIZE`)), `${where} MODINFO_SIZE`);
    m.metadata.forEach((md, j) => {
      checkIntRange(md.type, 0, MAX_MD_TYPE, `${where} metadata ${j} type`);
      if ((md.type & MODINFOMD.NOCOPY) !== 0) return; // md_copymodules: never copied to the kernel
      writeRecord(w, MODINFO.METADATA | md.type, md.data, `${where} metadata ${j}`);
    });
  });
  w.u32(MODINFO.END).u32(0);
}

/** The exact size encodeModinfo will produce, computed without writing (md_copymodules with addr 0). */
export function measureModinfo(modules: readonly PreloadedModule[]): number {
  const w = new ByteWriter({ measureOnly: true });
  writeModules(w, modules);
  return w.length;
}

/** The kernel module, looked up as the kernel does: type "elf kernel", else "elf64 kernel". */
export function findKernelModule<M extends PreloadedModule>(modules: readonly M[]): M | undefined {
  for (const t of KERNEL_MODULE_TYPES) {
    const m = modules.find((x) => x.type === t);
    if (m !== undefined) return m;
  }
  return undefined;
}

/** The first metadata item of `type` (MODINFOMD_* without the METADATA bit), as preload_search_info finds it. */
export function findMetadata(module: PreloadedModule, type: number): Uint8Array | undefined {
  return module.metadata.find((md) => md.type === type)?.data;
}

function patchKernend(modules: readonly PreloadedModule[], kernend: bigint): PreloadedModule[] {
  const kernel = findKernelModule(modules);
  const idx = kernel === undefined ? -1 : kernel.metadata.findIndex((md) => md.type === MODINFOMD.KERNEND);
  const item = kernel?.metadata[idx];
  if (kernel === undefined || item === undefined || item.data.length !== 8) {
    throw new HandoffError(
      HandoffCode.ModinfoNoKernend,
      kernel === undefined
        ? `handoff: no kernel module to carry MODINFOMD_KERNEND (no "elf kernel" or "elf64 kernel" among ${hex(modules.length)} modules)`
        : `handoff: kernel module has no 8-byte MODINFOMD_KERNEND item to patch (${JSON.stringify(kernel.name)}, length ${hex(item?.data.length ?? 0)})`,
      { modules: modules.length, ...(item === undefined ? {} : { length: item.data.length }) },
    );
  }
  const metadata = kernel.metadata.map((md, j) => (j === idx ? { type: md.type, data: mdU64(kernend) } : md));
  return modules.map((m) => (m === kernel ? { ...m, metadata } : m));
}

/**
 * Encodes the whole list (every module, then END). With `opts.kernend`, measures first and
 * patches the kernel module's KERNEND with `opts.kernend(size)`, as bi_load does.
 * Throws HANDOFF_BAD_STRING, HANDOFF_VALUE_RANGE or HANDOFF_MODINFO_NO_KERNEND.
 */
export function encodeModinfo(modules: readonly PreloadedModule[], opts: EncodeModinfoOptions = {}): Uint8Array {
  let mods = modules;
  let size: number | undefined;
  if (opts.kernend !== undefined) {
    // the placeholder must exist before anything is measured (bi_load adds it first)
    size = measureModinfo(patchKernend(modules, 0n));
    mods = patchKernend(modules, checkUnsigned(opts.kernend(size), 64, 'kernend'));
  }
  const w = new ByteWriter({ initialCapacity: size ?? 512 });
  writeModules(w, mods);
  return w.finish();
}

/**
 * Decodes records up to (not including) the END record. Trailing bytes after END are
 * ignored, as the kernel's walkers never look past it. Throws only HandoffError:
 * HANDOFF_MODINFO_NO_END (bytes end before END), HANDOFF_TRUNCATED (a record's data runs
 * past the end), HANDOFF_MODINFO_BAD_RECORD (type 0 with a non-zero size: the kernel would
 * silently step over it; kboot treats it as corruption), HANDOFF_MODINFO_TOO_LARGE.
 */
export function decodeModinfo(bytes: Uint8Array, limits: ModinfoLimits = {}): ModinfoRecord[] {
  const maxRecords = limits.maxRecords ?? DEFAULT_MODINFO_LIMITS.maxRecords;
  const maxRecordSize = limits.maxRecordSize ?? DEFAULT_MODINFO_LIMITS.maxRecordSize;
  const r = new ByteReader(bytes, { onOutOfBounds: truncated });
  const out: ModinfoRecord[] = [];
  let off = 0;
  for (;;) {
    if (off + ModinfoHeader.size > bytes.length) {
      throw new HandoffError(
        HandoffCode.ModinfoNoEnd,
        `handoff: modinfo has no END record (bytes end at ${hex(bytes.length)}, next record at ${hex(off)}, ${hex(out.length)} records)`,
        { offset: off, length: bytes.length, records: out.length },
      );
    }
    const { type, size } = ModinfoHeader.decode(bytes, off, truncated);
    if (type === MODINFO.END) {
      if (size !== 0) {
        throw new HandoffError(
          HandoffCode.ModinfoBadRecord,
          `handoff: modinfo END record has a non-zero size (size ${hex(size)} at ${hex(off)})`,
          { offset: off, type, size },
        );
      }
      return out;
    }
    if (out.length >= maxRecords || size > maxRecordSize) {
      throw new HandoffError(
        HandoffCode.ModinfoTooLarge,
        `handoff: modinfo record exceeds the limits (record ${hex(out.length)}, type ${hex(type)}, size ${hex(size)} at ${hex(off)}; limits ${hex(maxRecords)} records, ${hex(maxRecordSize)} bytes)`,
        { offset: off, type, size, records: out.length, maxRecords, maxRecordSize },
      );
    }
    const data = r.bytesAt(off + ModinfoHeader.size, size, `modinfo record ${hex(type)} data`);
    out.push({ type, data: data.slice() });
    off += ModinfoHeader.size + Math.ceil(size / MODINFO_ALIGN) * MODINFO_ALIGN;
  }
}

function badRecord(message: string, details: Record<string, unknown>): HandoffError {
  return new HandoffError(HandoffCode.ModinfoBadRecord, `handoff: ${message}`, details);
}

function readString(rec: ModinfoRecord, index: number, what: string): string {
  const nul = rec.data.indexOf(0);
  if (nul !== rec.data.length - 1) {
    throw badRecord(`${what} is not one NUL-terminated string (record ${hex(index)}, size ${hex(rec.data.length)})`, {
      index,
      type: rec.type,
      size: rec.data.length,
    });
  }
  return utf8Decoder.decode(rec.data.subarray(0, nul));
}

interface ModuleDraft {
  name: string;
  type?: string;
  args?: string;
  addr?: bigint;
  size?: bigint;
  metadata: ModinfoMetadata[];
  index: number;
}

function finishModule(d: ModuleDraft): PreloadedModule {
  if (d.type === undefined || d.addr === undefined || d.size === undefined) {
    const missing = [
      d.type === undefined ? 'TYPE' : '',
      d.addr === undefined ? 'ADDR' : '',
      d.size === undefined ? 'SIZE' : '',
    ]
      .filter((s) => s !== '')
      .join(', ');
    throw badRecord(`module lacks MODINFO_${missing} (${JSON.stringify(d.name)}, NAME at record ${hex(d.index)})`, {
      module: d.name,
      index: d.index,
      missing,
    });
  }
  const base = { name: d.name, type: d.type, addr: d.addr, size: d.size, metadata: d.metadata };
  return d.args === undefined ? base : { ...base, args: d.args };
}

/**
 * Groups decoded records into modules. NAME must come first (HANDOFF_MODINFO_NAME_NOT_FIRST);
 * each module needs exactly one TYPE, ADDR (8 bytes) and SIZE (8 bytes) and at most one
 * ARGS; EMPTY records (deleted entries) are skipped; other non-metadata types are
 * HANDOFF_MODINFO_BAD_RECORD.
 */
export function groupModules(records: readonly ModinfoRecord[]): PreloadedModule[] {
  const out: PreloadedModule[] = [];
  let cur: ModuleDraft | undefined;
  records.forEach((rec, i) => {
    if (rec.type === MODINFO.NAME) {
      if (cur !== undefined) out.push(finishModule(cur));
      cur = { name: readString(rec, i, 'MODINFO_NAME'), metadata: [], index: i };
      return;
    }
    if (cur === undefined) {
      throw new HandoffError(
        HandoffCode.ModinfoNameNotFirst,
        `handoff: modinfo does not start with MODINFO_NAME (first record type ${hex(rec.type)}, need 0x1)`,
        { index: i, type: rec.type },
      );
    }
    const draft: ModuleDraft = cur;
    const once = (field: 'type' | 'args' | 'addr' | 'size', label: string): void => {
      if (draft[field] !== undefined) {
        throw badRecord(`module has a second MODINFO_${label} (${JSON.stringify(draft.name)}, record ${hex(i)})`, {
          module: draft.name,
          index: i,
          type: rec.type,
        });
      }
    };
    const u64Field = (label: string): bigint => {
      if (rec.data.length !== 8) {
        throw badRecord(
          `MODINFO_${label} is not 8 bytes as a 64-bit kernel needs (${JSON.stringify(draft.name)}, ${hex(rec.data.length)} bytes)`,
          { module: draft.name, index: i, size: rec.data.length },
        );
      }
      return readMdU64(rec.data);
    };
    if ((rec.type & MODINFO.METADATA) !== 0) {
      draft.metadata.push({ type: (rec.type & ~MODINFO.METADATA) >>> 0, data: rec.data });
      return;
    }
    switch (rec.type) {
      case MODINFO.TYPE:
        once('type', 'TYPE');
        draft.type = readString(rec, i, 'MODINFO_TYPE');
        return;
      case MODINFO.ARGS:
        once('args', 'ARGS');
        draft.args = readString(rec, i, 'MODINFO_ARGS');
        return;
      case MODINFO.ADDR:
        once('addr', 'ADDR');
        draft.addr = u64Field('ADDR');
        return;
      case MODINFO.SIZE:
        once('size', 'SIZE');
        draft.size = u64Field('SIZE');
        return;
      case MODINFO.EMPTY:
        return;
      default:
        throw badRecord(`unknown modinfo record type (type ${hex(rec.type)}, record ${hex(i)})`, {
          index: i,
          type: rec.type,
        });
    }
  });
  if (cur !== undefined) out.push(finishModule(cur));
  return out;
}

/**
 * Machine-dependent metadata names per arch, for display. amd64: sys/x86/include/metadata.h
 * (SMAP..VBE_FB via arch/amd64/layout.ts; EFI_ARCH 0x1008 is in current FreeBSD's copy — read
 * in the freebsd-src fork kenrap/freebsd-src @f30bcb1, the freebsd-src copy in the index
 * predates it). arm64: sys/arm64/include/metadata.h.
 */
const MD_BY_ARCH: { readonly [A in Arch]: Readonly<Record<string, number>> } = {
  amd64: { ...AMD64_MODINFOMD, EFI_ARCH: 0x1008 },
  arm64: ARM64_MODINFOMD,
};

function nameOf(
  table: Readonly<Record<string, number>>,
  value: number,
  skip: readonly string[] = [],
): string | undefined {
  return Object.entries(table).find(([k, v]) => v === value && !skip.includes(k))?.[0];
}

/**
 * A display name for a record type: `MODINFO_NAME`, `MODINFOMD_KERNEND`,
 * `MODINFOMD_EFI_MAP` (0x9004 on amd64, 0x9001 on arm64), or `MODINFOMD_0x1234` when unknown.
 * Metadata types carry the 0x8000 bit, as in the record.
 */
export function modinfoTypeName(type: number, arch: Arch): string {
  if ((type & MODINFO.METADATA) !== 0) {
    const md = (type & ~MODINFO.METADATA) >>> 0;
    const name = nameOf(MD_BY_ARCH[arch], md) ?? nameOf(MODINFOMD, md, ['MB2HDR', 'NOCOPY']);
    if (name !== undefined) return `MODINFOMD_${name}`;
    if (md === (MODINFOMD.DEPLIST & ~MODINFOMD.NOCOPY)) return 'MODINFOMD_DEPLIST';
    return `MODINFOMD_${hex(md)}`;
  }
  const name = nameOf(MODINFO, type, ['METADATA']);
  return name === undefined ? `MODINFO_${hex(type)}` : `MODINFO_${name}`;
}
