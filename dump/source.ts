/**
 * Reading the dead host's memory for a dump writer (minidump.ts, elfdump.ts): the `readPhys`
 * a dump source needs, over guest RAM (loader/memory/guest-ram.ts).
 *
 * Contract: `guestMemoryReader(ram)(pa, len)` returns the bytes of [pa, pa + len) as a
 * zero-copy view of guest RAM when the range lies in one RAM region (the common case: a run of
 * dumped pages), and as a copy otherwise; it never writes. A view shows guest RAM live, so
 * the caller consumes it before the guest runs again (a dump writer writes it out at once,
 * as the rescue kernel's dumper reads the host's pages in place).
 */
import type { PhysAddr } from '../loader/addr.js';
import type { GuestRam } from '../loader/memory/guest-ram.js';

export function guestMemoryReader(ram: GuestRam): (pa: bigint, len: number) => Uint8Array {
  return (pa, len) => {
    const end = pa + BigInt(len);
    const inOne = ram.regions.some((r) => pa >= (r.base as bigint) && end <= (r.base as bigint) + (r.size as bigint));
    return inOne && len <= 1 << 30 ? ram.view(pa as PhysAddr, len) : ram.read(pa as PhysAddr, len);
  };
}
