/**
 * The kernel a dump came from, given as its ELF file (`kboot dump ... --kernel FILE`), as a
 * debugger is given it (kgdb, crashinfo(8), libkvm's namelist): its symbol table, checked
 * against the dump, and symbol references `NAME[+OFFSET]`.
 *
 * Contract: `loadKernelSymbols(path)` opens the file through loader/io/input.ts (a regular
 * file, never read whole: IoError otherwise) and reads its symbol table with
 * loader/elf/symbols.ts `readElfSymbols` (with or without program headers; ElfError for a
 * malformed file). `checkKernel(kernel, dump)` compares what both say: the architecture
 * (e_machine against the dump's), and for a minidump KERNBASE — the kernel's `kernbase`
 * symbol and every allocated section must lie in the dumped kernel map, at or above the
 * header's `kernbase` (VM_MIN_KERNEL_ADDRESS: sys/{amd64,arm64}/{amd64,arm64}/minidump_machdep.c);
 * a disagreement is DUMP_KERNEL_MISMATCH naming both values. `parseSymbolRef` reads
 * `NAME`, `NAME+N` (N hex 0x… or decimal); `resolveSymbol` finds the name (DUMP_NO_SYMBOL
 * otherwise, saying whether the file has a symbol table at all) and adds the offset.
 */
import { hex, U64_LIMIT } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { SHF, STT } from '../loader/elf/layout.js';
import { readElfSymbols, type ElfSymbolFile, type KernelSymbol } from '../loader/elf/symbols.js';
import { openInputFile } from '../loader/io/input.js';
import { DumpCode, DumpError } from './errors.js';

/** A kernel's symbol table and where it came from. */
export interface DumpKernel {
  /** The path as given. */
  readonly path: string;
  readonly symbols: ElfSymbolFile;
}

/** Reads the symbol table of the kernel file at `path` (see the module contract). */
export function loadKernelSymbols(path: string, opts: { readonly cwd?: string } = {}): DumpKernel {
  const f = openInputFile(path, { what: 'kernel', ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
  try {
    return { path, symbols: readElfSymbols(f) };
  } finally {
    f.close();
  }
}

/** What the check of a kernel against a dump found (both agree, or it threw). */
export interface KernelCheck {
  readonly arch: Arch;
  /** The kernel's `kernbase` symbol, when it has one. */
  readonly kernbase?: bigint;
  /** The start of the dumped kernel map (a minidump header's kernbase), when the dump says. */
  readonly dumpKernbase?: bigint;
}

function mismatch(message: string, details: Record<string, unknown>): DumpError {
  return new DumpError(
    DumpCode.KernelMismatch,
    `dump: the kernel file does not belong to this dump: ${message}`,
    details,
  );
}

/** Checks the kernel against the dump where both say something (see the module contract). */
export function checkKernel(
  kernel: DumpKernel,
  dump: { readonly arch: Arch; readonly kernelMapStart?: bigint },
): KernelCheck {
  const k = kernel.symbols;
  if (k.arch !== dump.arch) {
    throw mismatch(`it is an ${k.arch} kernel and the dump is ${dump.arch}`, { kernel: k.arch, dump: dump.arch });
  }
  const kernbase = k.lookup('kernbase')?.value;
  const start = dump.kernelMapStart;
  if (start !== undefined) {
    if (kernbase !== undefined && kernbase < start) {
      throw mismatch(`its kernbase ${hex(kernbase)} lies below the dumped kernel map (from ${hex(start)})`, {
        kernbase,
        dumpKernbase: start,
      });
    }
    const low = k.sections.find((s) => (s.flags & SHF.ALLOC) !== 0n && s.size > 0n && s.addr < start);
    if (low !== undefined) {
      throw mismatch(
        `its section ${low.name} at ${hex(low.addr)} lies below the dumped kernel map (from ${hex(start)})`,
        {
          section: low.name,
          addr: low.addr,
          dumpKernbase: start,
        },
      );
    }
  }
  return {
    arch: k.arch,
    ...(kernbase === undefined ? {} : { kernbase }),
    ...(start === undefined ? {} : { dumpKernbase: start }),
  };
}

/** A symbol reference: NAME or NAME+OFFSET. */
export interface SymbolRef {
  readonly name: string;
  readonly offset: bigint;
}

/** Parses `NAME[+OFFSET]` (OFFSET hex 0x… or decimal); undefined when it is not one. */
export function parseSymbolRef(text: string): SymbolRef | undefined {
  const m = /^([^\s+]+)(?:\+(0x[0-9a-f]+|[0-9]+))?$/i.exec(text.trim());
  if (m === null || m[1] === undefined) return undefined;
  const offset = m[2] === undefined ? 0n : BigInt(m[2]);
  return offset < U64_LIMIT ? { name: m[1], offset } : undefined;
}

/** A symbol reference resolved: the symbol and the address it names. */
export interface ResolvedSymbol {
  readonly name: string;
  readonly offset: bigint;
  readonly symbol: KernelSymbol;
  readonly va: bigint;
}

/** The symbol's name for messages: OBJECT, FUNC, NOTYPE, ... */
export function symbolTypeName(type: number): string {
  return Object.entries(STT).find(([, v]) => v === type)?.[0] ?? String(type);
}

/** Finds `ref` in the kernel's symbols (DUMP_NO_SYMBOL otherwise). */
export function resolveSymbol(kernel: DumpKernel, ref: SymbolRef): ResolvedSymbol {
  const k = kernel.symbols;
  const symbol = k.lookup(ref.name);
  if (symbol === undefined) {
    const why =
      k.source === 'none' ? 'it has no symbol table' : `none of its ${k.symbols.length} symbols has that name`;
    throw new DumpError(DumpCode.NoSymbol, `dump: the kernel ${kernel.path} has no symbol ${ref.name} (${why})`, {
      name: ref.name,
      kernel: kernel.path,
      symbols: k.symbols.length,
    });
  }
  const va = symbol.value + ref.offset;
  if (va >= U64_LIMIT) {
    throw new DumpError(DumpCode.BadValue, `dump: ${ref.name}+${hex(ref.offset)} passes the end of the address space`, {
      name: ref.name,
      offset: ref.offset,
    });
  }
  return { name: ref.name, offset: ref.offset, symbol, va };
}
