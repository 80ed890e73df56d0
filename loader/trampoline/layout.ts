/**
 * The data blocks kboot's trampolines read, each declared once (ANCHORS.md house rule 3). The
 * code emitters in amd64.ts / arm64.ts take every displacement from `Layout.offsets` and
 * every stride from `Layout.size`; tests decode the emitted blocks with these same layouts
 * and check the displacements objdump prints against them.
 *
 * Sources: `struct trampoline_data` of stand/kboot/kboot/arch/amd64/amd64_tramp.S (the
 * memmap-carrying variant, shared/spec/freebsd-handoff.md §2.3) and of
 * stand/kboot/kboot/arch/aarch64/tramp.S (§2.5). The copy table is kboot's own: Linux copies
 * loader.kboot's segments before it enters the trampoline, kboot's machine does not, so the
 * trampoline copies staging → destination itself, like FreeBSD's kexec_do_reboot
 * (sys/amd64/amd64/kexec_tramp.S, §6.1).
 */
import assert from 'node:assert/strict';
import { bytes, defineLayout, pad, u32, u64 } from '../bytes/index.js';
import { KEXEC_SEGMENT_MAX } from '../plan/kexec-plan.js';

/** One copy: `len` bytes from `src` (staging) to `dst` (final place), both physical. */
export const TrampCopy = defineLayout(
  'kboot.tramp_copy',
  [u64('src', { at: 0 }), u64('dst', { at: 8 }), u64('len', { at: 16 })],
  { size: 24 },
);

/** Slots in the copy table: KEXEC_SEGMENT_MAX (sys/sys/kexec.h; Linux include/uapi/linux/kexec.h). */
export const TRAMP_COPY_SLOTS = KEXEC_SEGMENT_MAX;

/**
 * amd64 `struct trampoline_data` (amd64_tramp.S, §2.3). The trampoline points %rsp at `entry`
 * and executes `ret`, so btext starts with %rsp at `fill1`: 4(%rsp) = modulep and
 * 8(%rsp) = kernend, 32-bit offsets from KERNBASE (sys/amd64/amd64/locore.S btext).
 */
export const Amd64TrampData = defineLayout(
  'amd64.trampoline_data',
  [
    u64('memmapSrc', { at: 0 }),
    u64('memmapDst', { at: 8 }),
    u64('memmapLen', { at: 16 }),
    u64('pt4', { at: 24 }),
    u64('entry', { at: 32 }),
    u32('fill1', { at: 40 }),
    u32('modulep', { at: 44 }),
    u32('kernend', { at: 48 }),
    u32('fill2', { at: 52 }),
  ],
  { size: 56 },
);
assert.equal(Amd64TrampData.offsets.fill1, Amd64TrampData.offsets.entry + 8, 'ret pops entry, leaving %rsp at fill1');
assert.equal(Amd64TrampData.offsets.modulep - Amd64TrampData.offsets.fill1, 4, '4(%rsp) = modulep');
assert.equal(Amd64TrampData.offsets.kernend - Amd64TrampData.offsets.fill1, 8, '8(%rsp) = kernend');

/**
 * arm64 `struct trampoline_data` (tramp.S / exec.c, §2.5): `ldp x9, x0, [data]` loads entry and
 * modulep in one instruction, so modulep must follow entry.
 */
export const Arm64TrampData = defineLayout(
  'arm64.trampoline_data',
  [
    u64('entry', { at: 0 }),
    u64('modulep', { at: 8 }),
    u64('memmapSrc', { at: 16 }),
    u64('memmapDst', { at: 24 }),
    u64('memmapLen', { at: 32 }),
  ],
  { size: 40 },
);
assert.equal(Arm64TrampData.offsets.modulep, Arm64TrampData.offsets.entry + 8, 'ldp x9, x0 needs modulep after entry');

const COPY_TABLE_BYTES = TRAMP_COPY_SLOTS * TrampCopy.size;

/**
 * The amd64 kexec data block, placed 64-byte aligned after the code: the number of copies,
 * the copy table, then `struct trampoline_data` (which is also the stack `ret` pops from).
 */
export const Amd64KexecBlock = defineLayout(
  'kboot.amd64.kexec_block',
  [
    u64('ncopies', { at: 0 }),
    pad(8),
    bytes('copies', COPY_TABLE_BYTES, { at: 16 }),
    bytes('tramp', Amd64TrampData.size),
  ],
  { size: 16 + COPY_TABLE_BYTES + Amd64TrampData.size },
);

/** The arm64 kexec data block: the number of copies, the copy table, then `struct trampoline_data`. */
export const Arm64KexecBlock = defineLayout(
  'kboot.arm64.kexec_block',
  [
    u64('ncopies', { at: 0 }),
    pad(8),
    bytes('copies', COPY_TABLE_BYTES, { at: 16 }),
    bytes('tramp', Arm64TrampData.size),
  ],
  { size: 16 + COPY_TABLE_BYTES + Arm64TrampData.size },
);
