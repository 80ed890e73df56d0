/**
 * `kboot dump read`: bytes of a dump's memory at a kernel virtual address, a physical address
 * or a kernel symbol, with the translation of every page touched (libkvm kvm_read2 /
 * kvm_kvatop), in JSON form (schemas/dump-read.schema.json) and as text.
 *
 * Contract: `planRead(d, request)` resolves the request — a symbol `NAME[+OFFSET]` through
 * the kernel the dump was opened with (dump/kernel.ts; DUMP_NO_SYMBOL without one), its
 * length (`len`, else the width of `as` for u32/u64, else what is left of the symbol's
 * st_size, else 256 bytes for a string; DUMP_BAD_VALUE when none applies) — and translates
 * every page it touches (DUMP_NOT_MAPPED / DUMP_NO_KVA / DUMP_NOT_DUMPED / DUMP_PAGE_MISSING
 * before any byte is read); `readReport(d, plan, file)` reads the bytes and builds the report,
 * `value` decoded `as` u32 or u64 (little-endian, one decimal per 4 or 8 bytes), str (the C
 * string up to the first NUL) or hex. `formatDumpRead(report)` is its text: the values alone
 * for u32 / u64 / str, else `hexdump -C` lines labelled with the address after a line per
 * translated page. Lengths are 1..MAX_READ_LEN.
 */
import { hex, U64_LIMIT } from '../../loader/addr.js';
import type { DumpCompression } from '../compress.js';
import { DumpCode, DumpError } from '../errors.js';
import { resolveSymbol, symbolTypeName, type ResolvedSymbol, type SymbolRef } from '../kernel.js';
import type { OpenedDump } from '../open.js';

/** Largest read. */
export const MAX_READ_LEN = 1 << 20;
/** What a string read takes when neither --len nor the symbol says. */
const DEFAULT_STR_LEN = 256;

/** How the bytes are shown. */
export type ReadFormat = 'hex' | 'u32' | 'u64' | 'str';
export const READ_FORMATS: readonly ReadFormat[] = ['hex', 'u32', 'u64', 'str'];

/** What to read: exactly one of `kva`, `pa`, `symbol`. */
export interface ReadRequest {
  readonly kva?: bigint;
  readonly pa?: bigint;
  readonly symbol?: SymbolRef;
  readonly len?: number;
  readonly as?: ReadFormat;
}

/** What `kboot dump read` returns: the bytes read (by PA, KVA or symbol) and their formatted values (schemas/dump-read.schema.json). */
export interface DumpReadReport {
  readonly file: string;
  readonly compression: DumpCompression;
  readonly format: 'minidump' | 'elf';
  readonly arch: string;
  readonly container: 'raw' | 'device';
  readonly kind: 'kva' | 'pa';
  readonly address: string;
  readonly len: number;
  /** PA of the first byte. */
  readonly pa: string;
  /** The symbol a --sym read named. */
  readonly symbol?: {
    readonly name: string;
    readonly offset: string;
    readonly value: string;
    readonly size: string;
    readonly type: string;
  };
  /** One entry per page touched: its VA (kva reads), PA, offset in the file and bytes read there. */
  readonly pages: readonly {
    readonly va?: string;
    readonly pa: string;
    readonly offset: string;
    readonly len: number;
  }[];
  /** The bytes, two lower-case hex digits each. */
  readonly hex: string;
  /** How `value` decodes them. */
  readonly as: ReadFormat;
  /** u32 / u64: one decimal per element; str: the string; hex: absent. */
  readonly value?: readonly string[];
}

/** A read resolved and translated, nothing read yet. */
export interface ReadPlan {
  readonly kind: 'kva' | 'pa';
  readonly start: bigint;
  readonly len: number;
  readonly as: ReadFormat;
  readonly symbol?: ResolvedSymbol;
  readonly pages: DumpReadReport['pages'];
  /** Bytes of the dump file the read needs decoded (a compressed dump is decoded that far first). */
  readonly furthest: number;
}

const WIDTH: Partial<Record<ReadFormat, number>> = { u32: 4, u64: 8 };

function badValue(message: string, details: Record<string, unknown>): DumpError {
  return new DumpError(DumpCode.BadValue, `dump: ${message}`, details);
}

/** The read's length (see the module contract). */
function readLength(req: ReadRequest, as: ReadFormat, sym: ResolvedSymbol | undefined): number {
  const left = sym === undefined || sym.symbol.size <= sym.offset ? 0n : sym.symbol.size - sym.offset;
  const fromSymbol = left > 0n ? Number(left < BigInt(MAX_READ_LEN) ? left : BigInt(MAX_READ_LEN)) : undefined;
  const len = req.len ?? WIDTH[as] ?? fromSymbol ?? (as === 'str' ? DEFAULT_STR_LEN : undefined);
  if (len === undefined) throw badValue('a read needs a length (--len N)', {});
  if (!Number.isSafeInteger(len) || len < 1 || len > MAX_READ_LEN) {
    throw badValue(`a read of ${len} bytes: the length must be 1..${MAX_READ_LEN}`, { len });
  }
  const width = WIDTH[as];
  if (width !== undefined && len % width !== 0) {
    throw badValue(`${len} bytes are not whole ${as} values (${width} bytes each)`, { len, as });
  }
  return len;
}

/** The start address, what it is, and the symbol it came from. */
function readStart(d: OpenedDump, req: ReadRequest): { kind: 'kva' | 'pa'; start: bigint; symbol?: ResolvedSymbol } {
  if (req.symbol !== undefined) {
    if (d.kernel === undefined) {
      throw new DumpError(DumpCode.NoSymbol, `dump: ${req.symbol.name}: symbols need the kernel (--kernel FILE)`, {
        name: req.symbol.name,
      });
    }
    const symbol = resolveSymbol(d.kernel.file, req.symbol);
    return { kind: 'kva', start: symbol.va, symbol };
  }
  if (req.kva !== undefined) return { kind: 'kva', start: req.kva };
  if (req.pa !== undefined) return { kind: 'pa', start: req.pa };
  throw badValue('a read needs a kernel VA, a physical address or a symbol', {});
}

/** Resolves and translates a read (see the module contract). */
export function planRead(d: OpenedDump, req: ReadRequest): ReadPlan {
  const as = req.as ?? 'hex';
  const { kind, start, symbol } = readStart(d, req);
  const len = readLength(req, as, symbol);
  if (start + BigInt(len) > U64_LIMIT) {
    throw badValue(`${hex(start)} + ${hex(len)} passes the end of the 64-bit address space`, { start, len });
  }
  const ps = BigInt(d.pageSize);
  const pages: { va?: string; pa: string; offset: string; len: number }[] = [];
  let furthest = 0;
  for (let done = 0; done < len;) {
    const a = start + BigInt(done);
    const n = Math.min(Number(ps - (a % ps)), len - done);
    const pa = kind === 'kva' ? d.kvaToPa(a) : a;
    const offset = hex(d.paToFileOffset(pa));
    furthest = Math.max(furthest, d.paToDumpOffset(pa) + n);
    pages.push(kind === 'kva' ? { va: hex(a), pa: hex(pa), offset, len: n } : { pa: hex(pa), offset, len: n });
    done += n;
  }
  return { kind, start, len, as, ...(symbol === undefined ? {} : { symbol }), pages, furthest };
}

/** The bytes decoded as `as`. */
function decodeValue(bytes: Uint8Array, as: ReadFormat): readonly string[] | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (as === 'u32') return Array.from({ length: bytes.length / 4 }, (_, i) => String(dv.getUint32(i * 4, true)));
  if (as === 'u64') return Array.from({ length: bytes.length / 8 }, (_, i) => String(dv.getBigUint64(i * 8, true)));
  if (as === 'str') {
    const nul = bytes.indexOf(0);
    return [new TextDecoder('utf-8').decode(nul < 0 ? bytes : bytes.subarray(0, nul))];
  }
  return undefined;
}

/** Reads a planned read and builds the report (see the module contract). */
export function readReport(
  d: OpenedDump,
  plan: ReadPlan,
  file: string,
  fileCompression: DumpCompression,
): DumpReadReport {
  const bytes = plan.kind === 'kva' ? d.readKva(plan.start, plan.len) : d.readPa(plan.start, plan.len);
  const s = plan.symbol;
  const value = decodeValue(bytes, plan.as);
  return {
    file,
    compression: d.compressedPayload ?? fileCompression,
    format: d.kind,
    arch: d.arch,
    container: d.container,
    kind: plan.kind,
    address: hex(plan.start),
    len: plan.len,
    pa: plan.pages[0]?.pa ?? hex(plan.start),
    ...(s === undefined
      ? {}
      : {
          symbol: {
            name: s.name,
            offset: hex(s.offset),
            value: hex(s.symbol.value),
            size: hex(s.symbol.size),
            type: symbolTypeName(s.symbol.type),
          },
        }),
    pages: plan.pages,
    hex: Buffer.from(bytes).toString('hex'),
    as: plan.as,
    ...(value === undefined ? {} : { value }),
  };
}

const a16 = (h: string): string => `0x${h.slice(2).padStart(16, '0')}`;

/** `hexdump -C` lines, the address column counting from `addr`. */
export function hexdumpLines(addr: bigint, bytes: Uint8Array): string {
  const out: string[] = [];
  for (let o = 0; o < bytes.length; o += 16) {
    const row = bytes.subarray(o, Math.min(o + 16, bytes.length));
    const cells: string[] = [];
    for (let i = 0; i < 16; i++) {
      const b = row[i];
      cells.push(b === undefined ? '  ' : b.toString(16).padStart(2, '0'));
    }
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    const at = ((addr + BigInt(o)) & (U64_LIMIT - 1n)).toString(16).padStart(16, '0');
    out.push(`${at}  ${cells.slice(0, 8).join(' ')}  ${cells.slice(8).join(' ')}  |${ascii}|`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** The text form of a read (see the module contract). */
export function formatDumpRead(r: DumpReadReport): string {
  if (r.value !== undefined) return `${r.value.join('\n')}\n`;
  const lines: string[] = [];
  if (r.symbol !== undefined) {
    const s = r.symbol;
    lines.push(
      `# ${s.name}${s.offset === '0x0' ? '' : `+${s.offset}`} = kva ${a16(r.address)} (${s.type}, ${s.size} bytes)\n`,
    );
  }
  if (r.kind === 'kva') for (const p of r.pages) lines.push(`# kva ${a16(p.va ?? '0x0')} -> pa ${a16(p.pa)}\n`);
  return lines.join('') + hexdumpLines(BigInt(r.address), Buffer.from(r.hex, 'hex'));
}
