/**
 * Errors of the embed strategy (loader/embed/): putting a rescue kernel ELF inside a host
 * kernel ELF the way RESCUE_EMBED does, and reading it back. They belong to the 'elf' domain
 * (messages start `elf:`) because every one is about an ELF file; parse failures of either
 * input are plain ElfErrors from parseElf.
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Stable codes of every embed failure. */
export const EmbedCode = {
  /** The rescue ELF fails lintRescueKernel; `details.problems` lists every failed rule. */
  NotRescueKernel: 'EMBED_NOT_RESCUE_KERNEL',
  /** Host and rescue kernels are built for different architectures. */
  ArchMismatch: 'EMBED_ARCH_MISMATCH',
  /** The host already defines rescue_start or rescue_end. */
  AlreadyEmbedded: 'EMBED_ALREADY_EMBEDDED',
  /** The host's last PT_LOAD cannot grow: other loaded bytes follow it, or the kernel's address range ends. */
  NoRoom: 'EMBED_NO_ROOM',
  /** The host lacks what the embedding needs (a symbol table) or uses ELF features it does not handle. */
  BadHost: 'EMBED_BAD_HOST',
  /** The image has neither rescue_start nor rescue_end. */
  NotEmbedded: 'EMBED_NOT_FOUND',
  /** rescue_start/rescue_end exist but do not delimit file-backed bytes of one PT_LOAD. */
  BadSymbols: 'EMBED_BAD_SYMBOLS',
} as const;

/** One of the embed error codes. */
export type EmbedErrorCode = CodeOf<typeof EmbedCode>;

/** An embedding that cannot be made or read back. */
export class EmbedError extends KbootError<EmbedErrorCode> {
  readonly domain = 'elf';
  override readonly name = 'EmbedError';
}
