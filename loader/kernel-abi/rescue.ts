/**
 * Architecture-independent rescue-kernel constants (D47358; markjdb/freebsd @bd74b35,
 * sys/{amd64,arm64}/include/rescue.h and rescue_machdep.c; shared/spec/freebsd-handoff.md §8).
 */
import { size } from '../addr.js';

/** RESCUE_RESERV_DEFAULT_SIZE: default debug.rescue_memsize (128 MiB). */
export const RESCUE_DEFAULT_MEMSIZE = size(0x800_0000n);
/** RESCUE_RESERV_ALIGN: the reservation is 2 MiB aligned. */
export const RESCUE_RESERV_ALIGN = size(0x20_0000n);
/** RESCUE_RESERV_BOUNDARY: the reservation never crosses a 1 GiB boundary. */
export const RESCUE_RESERV_BOUNDARY = size(0x4000_0000n);
/** RESCUE_RESERV_KERNEL_OFFSET: the raw rescue ELF starts 2 MiB into the reservation. */
export const RESCUE_KERNEL_OFFSET = size(0x20_0000n);
