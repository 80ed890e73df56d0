/**
 * The probe's image checksum, in TypeScript: the same FNV-1a 64 the probe code computes over
 * [_start, _edata), so tests and the machine can compute the expected value from the ELF.
 *
 * Contract: `fnv1a64(bytes)` is FNV-1a with 64-bit offset basis and prime (layout.ts FNV1A64):
 * for each byte, h ^= byte; h *= prime (mod 2^64). `probeChecksum(elf)` parses the ELF
 * (a malformed file raises its ElfError) and hashes the file bytes of its executable PT_LOAD
 * segments in address order; for a probe kernel that is exactly [_start, _edata).
 */
import { U64_MAX } from '../../loader/addr.js';
import { parseElf, PF, segmentBytes } from '../../loader/elf/index.js';
import { FNV1A64 } from './layout.js';

/** FNV-1a 64 of `bytes`. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h: bigint = FNV1A64.offsetBasis;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV1A64.prime) & U64_MAX;
  return h;
}

/** The checksum a probe kernel reports for itself, from its ELF bytes. */
export function probeChecksum(elfBytes: Uint8Array): bigint {
  const image = parseElf(elfBytes);
  const text = image.loadSegments.filter((p) => (p.flags & PF.X) !== 0);
  const parts = text.map((p) => segmentBytes(image, p));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return fnv1a64(all);
}
