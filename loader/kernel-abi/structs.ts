/**
 * The host kernel's own structures, each declared once (ANCHORS.md rule 3), and the constants
 * the host-kernel model lays them out with, each with its FreeBSD source.
 *
 * Contract: pure declarations. `Msgbuf` is LP64 `struct msgbuf` (sys/sys/msgbuf.h; `struct
 * mtx` is 32 bytes on LP64: struct lock_object {name, flags, data, witness} + mtx_lock);
 * `DumpAvailPair` is one `[start, end)` pair of `vm_paddr_t dump_avail[]`
 * (sys/vm/vm_phys.h / vm_dumpset.h). Facts marked UNVERIFIED are model choices, not read.
 */
import { defineLayout, u32, u64 } from '../bytes/index.js';

/** `struct msgbuf` (sys/sys/msgbuf.h), LP64. The buffer itself lies before it (msgbufinit, sys/kern/subr_prf.c). */
export const Msgbuf = defineLayout(
  'struct msgbuf',
  [
    u64('msgPtr', { at: 0 }),
    u32('msgMagic', { at: 8 }),
    u32('msgSize', { at: 12 }),
    u32('msgWseq', { at: 16 }),
    u32('msgRseq', { at: 20 }),
    u32('msgCksum', { at: 24 }),
    u32('msgSeqmod', { at: 28 }),
    u32('msgLastpri', { at: 32 }),
    u32('msgFlags', { at: 36 }),
    // struct mtx msg_lock: lock_object (lo_name, lo_flags, lo_data, lo_witness) + mtx_lock
    u64('loName', { at: 40 }),
    u32('loFlags', { at: 48 }),
    u32('loData', { at: 52 }),
    u64('loWitness', { at: 56 }),
    u64('mtxLock', { at: 64 }),
  ] as const,
  { size: 72 },
);

/** One dump_avail pair. The array ends with a 0,0 pair. */
export const DumpAvailPair = defineLayout(
  'dump_avail pair',
  [u64('start', { at: 0 }), u64('end', { at: 8 })] as const,
  {
    size: 16,
  },
);

/** One 64-bit word of `struct bitset` (sys/sys/_bitset.h: long __bits[]), little-endian in memory and in dumps. */
export const BitsetWord = defineLayout('bitset word', [u64('bits', { at: 0 })] as const, { size: 8 });

export const HOST = {
  /** MSG_MAGIC (sys/sys/msgbuf.h). */
  MSG_MAGIC: 0x063062,
  /** msg_seqmod = SEQMOD(size) = size * 16 (sys/kern/subr_msgbuf.c). */
  SEQMOD_FACTOR: 16,
  /** MSGBUF_SIZE default, 32768 * 3 (sys/sys/msgbuf.h); kern.msgbufsize overrides it. UNVERIFIED for every branch. */
  MSGBUF_SIZE: 0x1_8000,
  /** kern.msgbufsize: the loader tunable that sizes the message buffer (sys/kern/subr_param.c). */
  MSGBUFSIZE_TUNABLE: 'kern.msgbufsize',
  /** Entries of dump_avail[] (PHYS_AVAIL_COUNT); a model choice that fits in one page (minidump _Static_assert). UNVERIFIED. */
  DUMP_AVAIL_COUNT: 130,
  /** KSTACK_PAGES (sys/amd64/include/param.h, sys/arm64/include/param.h: 4 without KASAN). */
  KSTACK_PAGES: 4,
  /** 64-bit words of struct bitset. */
  BITSET_WORD_BITS: 64,
  /** Pages the model's UMA "allocates" (dump_add_page) by default. */
  DEFAULT_ALLOCATED_PAGES: 1536,
} as const;

/**
 * The generated model kernel, as offsets from file offset 0 (amd64 KERNSTART, arm64 KERNBASE):
 * text, data and bss of a small FreeBSD-like kernel. Structures that are globals in FreeBSD
 * (dump_avail, the GDT, arm64's static pt_l0/l1/l2 of rescue_kernel_exec) live in data/bss.
 */
export const MODEL_KERNEL = {
  text: 0x0n,
  textSize: 0x20_0000n,
  /** rescue_tramp in text (64-byte aligned, `.p2align 6`; same offset as the panic host). */
  rescueTramp: 0x10_01c0n,
  data: 0x20_0000n,
  dataSize: 0x10_0000n,
  /** dump_avail[] at data + 0. */
  dumpAvail: 0x20_0000n,
  /** The amd64 GDT page. */
  gdt: 0x20_1000n,
  bss: 0x30_0000n,
  bssSize: 0x10_0000n,
  /** arm64 rescue_kernel_exec's static pt_l0, pt_l1, pt_l2 (3 pages) at bss + 0. */
  scratch: 0x30_0000n,
  /** Page-table pages the host may allocate after its image (create_pagetables / pmap_bootstrap). */
  tablePages: 64,
} as const;
