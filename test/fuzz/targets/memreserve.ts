/**
 * walkMemreserve (loader/handoff/memreserve.ts) on mutated ITS descriptor pages: the bytes are
 * one page of physical memory at a fixed PA (the rest of memory reads as unmapped), the
 * firmware's runtime mapping covers that page at VA == PA, and FW_HANDLE is its start.
 */
import { HandoffError } from '../../../loader/handoff/errors.js';
import {
  EfiConfigTable,
  EfiSystemTable,
  encodeItsDescriptors,
  ITS_DESCRIPTOR_PAGE,
  LinuxEfiMemreserve,
  walkMemreserve,
} from '../../../loader/handoff/memreserve.js';
import { bytesTarget } from '../lib/build.js';
import { layoutFields } from '../lib/fields.js';
import type { FuzzTarget } from '../lib/target.js';

const BASE = 0x4020_1000n;

function walk(b: Uint8Array): string {
  const end = BASE + BigInt(b.length);
  const out = walkMemreserve(
    {
      read: (pa, len) =>
        pa >= BASE && pa + BigInt(len) <= end ? b.slice(Number(pa - BASE), Number(pa - BASE) + len) : undefined,
      runtimeVaToPa: (va) => (va >= BASE && va < end ? va : undefined),
    },
    BASE,
  );
  return out.kind;
}

export const memreserveTarget: FuzzTarget = bytesTarget({
  group: 'handoff',
  errors: [HandoffError],
  name: 'memreserve',
  entry: 'walkMemreserve (EFI system table -> LINUX_EFI_MEMRESERVE chain)',
  floor: 0.45,
  tapRuns: 3000,
  seeds: () => [
    encodeItsDescriptors(BASE, [
      { start: 0x9_7ff0_0000n, size: 0x1_0000n },
      { start: 0x9_7ff1_0000n, size: 0x2400n },
    ]).bytes,
    encodeItsDescriptors(BASE, []).bytes,
  ],
  decode: walk,
  fields: (b) => [
    ...layoutFields(EfiSystemTable, ITS_DESCRIPTOR_PAGE.systbl, b.length),
    ...layoutFields(EfiConfigTable, ITS_DESCRIPTOR_PAGE.cfgtbl, b.length),
    ...layoutFields(LinuxEfiMemreserve, ITS_DESCRIPTOR_PAGE.memreserve, b.length),
  ],
});
