/**
 * The two kexec_load ABIs kboot models, declared once: the segment structs, flags, arch
 * values, limits, syscall numbers and errno numbers.
 *
 * Sources (shared/spec/linux-kexec.md §2.1, freebsd-handoff.md §6):
 *  - Linux: include/uapi/linux/kexec.h (`struct kexec_segment { const void *buf; size_t
 *    bufsz; const void *mem; size_t memsz; }`, 32 bytes on LP64; KEXEC_* flags and arch
 *    values; KEXEC_SEGMENT_MAX 16), include/linux/kexec.h (KEXEC_FLAGS),
 *    arch/x86/include/asm/kexec.h and arch/arm64/include/asm/kexec.h
 *    (KEXEC_DESTINATION_MEMORY_LIMIT, KEXEC_CONTROL_PAGE_SIZE), include/uapi/asm-generic/errno*.h.
 *  - FreeBSD: sys/sys/kexec.h (`struct kexec_segment { void *buf; size_t bufsz; vm_paddr_t
 *    mem; vm_size_t memsz; }`, KEXEC_ON_CRASH, KEXEC_SEGMENT_MAX 16), sys/kern/kern_kexec.c,
 *    sys/sys/errno.h.
 * Contract: encode/decode go through the layouts; decoding a segment array that runs past
 * the bytes given is the kernel's copyin failure, KexecError(KEXEC_EFAULT).
 */
import { U64_MAX } from '../addr.js';
import type { Arch } from '../arch/index.js';
import { defineLayout, u64, type OutOfBoundsInfo } from '../bytes/index.js';
import { KexecCode, KexecError } from './errors.js';

/** Which kernel's kexec_load a call follows. */
export type KexecAbi = 'linux' | 'freebsd';
/** Both ABIs, for tests and reports that go over each. */
export const KEXEC_ABIS: readonly KexecAbi[] = ['linux', 'freebsd'];

/** Linux `struct kexec_segment` (include/uapi/linux/kexec.h), LP64. */
export const LinuxKexecSegment = defineLayout(
  'linux.kexec_segment',
  [u64('buf', { at: 0 }), u64('bufsz', { at: 8 }), u64('mem', { at: 16 }), u64('memsz', { at: 24 })],
  { size: 32 },
);

/** FreeBSD `struct kexec_segment` (sys/sys/kexec.h), LP64: the same four 8-byte fields. */
export const FreeBsdKexecSegment = defineLayout(
  'freebsd.kexec_segment',
  [u64('buf', { at: 0 }), u64('bufsz', { at: 8 }), u64('mem', { at: 16 }), u64('memsz', { at: 24 })],
  { size: 32 },
);

/** The segment layout of each ABI. */
export const KEXEC_SEGMENT_LAYOUT = { linux: LinuxKexecSegment, freebsd: FreeBsdKexecSegment } as const;

/** Linux kexec_load flags and arch values (include/uapi/linux/kexec.h). */
export const LINUX_KEXEC = {
  ON_CRASH: 0x1n,
  /** Needs CONFIG_KEXEC_JUMP. */
  PRESERVE_CONTEXT: 0x2n,
  UPDATE_ELFCOREHDR: 0x4n,
  /** Newer kernels; not in KEXEC_FLAGS as the spec records it, so refused here. */
  CRASH_HOTPLUG_SUPPORT: 0x8n,
  ARCH_MASK: 0xffff_0000n,
  ARCH_DEFAULT: 0n,
  /** EM_X86_64 (62) << 16. */
  ARCH_X86_64: 62n << 16n,
  /** EM_AARCH64 (183) << 16. */
  ARCH_AARCH64: 183n << 16n,
  /** "The artificial cap on the number of segments passed to kexec_load." */
  SEGMENT_MAX: 16,
} as const;

/** FreeBSD kexec(2) constants (sys/sys/kexec.h). `flags` is reserved: kern_kexec_load ignores it. */
export const FREEBSD_KEXEC = {
  ON_CRASH: 0x1n,
  SEGMENT_MAX: 16,
} as const;

/** KEXEC_ARCH for each arch: the value a native kernel accepts besides ARCH_DEFAULT. */
export const LINUX_KEXEC_ARCH: { readonly [A in Arch]: bigint } = {
  amd64: LINUX_KEXEC.ARCH_X86_64,
  arm64: LINUX_KEXEC.ARCH_AARCH64,
};

/**
 * KEXEC_DESTINATION_MEMORY_LIMIT: amd64 `MAXMEM - 1` (arch/x86/include/asm/kexec.h) with
 * MAXMEM = 1 << MAX_PHYSMEM_BITS, `pgtable_l5_enabled() ? 52 : 46`
 * (arch/x86/include/asm/sparsemem.h; 4-level paging assumed; a 2025 patch makes it 52
 * always); arm64 `-1UL` (arch/arm64/include/asm/kexec.h). The control-page limit
 * (KEXEC_CONTROL_MEMORY_LIMIT) is the same value on both. KexecState.destinationLimit overrides.
 */
export const LINUX_KEXEC_DESTINATION_LIMIT: { readonly [A in Arch]: bigint } = {
  amd64: (1n << 46n) - 1n,
  arm64: U64_MAX,
};

/** KEXEC_CONTROL_PAGE_SIZE (4096 on both: arch/{x86,arm64}/include/asm/kexec.h). */
export const LINUX_KEXEC_CONTROL_PAGE_SIZE: { readonly [A in Arch]: bigint } = { amd64: 4096n, arm64: 4096n };

/**
 * kexec_load system-call numbers: Linux x86_64 246 (syscall_64.tbl), aarch64 104 (the
 * generic table; spec source a blog), FreeBSD 599 (sys/kern/syscalls.master, read in a
 * generated syscall.h of a fork tracking main).
 */
export const KEXEC_SYSCALL: { readonly [B in KexecAbi]: { readonly [A in Arch]: number } } = {
  linux: { amd64: 246, arm64: 104 },
  freebsd: { amd64: 599, arm64: 599 },
};

/** The errno names kexec_load reports here. */
export type KexecErrno = 'EPERM' | 'ENOMEM' | 'EFAULT' | 'EBUSY' | 'EINVAL' | 'EADDRNOTAVAIL';

/**
 * errno numbers per ABI: Linux include/uapi/asm-generic/errno-base.h and errno.h (x86_64 and
 * arm64 use the generic numbers); FreeBSD sys/sys/errno.h. Only EADDRNOTAVAIL differs.
 */
export const ERRNO: { readonly [B in KexecAbi]: { readonly [E in KexecErrno]: number } } = {
  linux: { EPERM: 1, ENOMEM: 12, EFAULT: 14, EBUSY: 16, EINVAL: 22, EADDRNOTAVAIL: 99 },
  freebsd: { EPERM: 1, ENOMEM: 12, EFAULT: 14, EBUSY: 16, EINVAL: 22, EADDRNOTAVAIL: 49 },
};

/** One segment as the ABI struct holds it: user pointer, sizes, destination. */
export interface RawKexecSegment {
  readonly buf: bigint;
  readonly bufsz: bigint;
  readonly mem: bigint;
  readonly memsz: bigint;
}

/** Encodes an array of segments as the user passes it to kexec_load. */
export function encodeKexecSegments(abi: KexecAbi, segments: readonly RawKexecSegment[]): Uint8Array {
  const layout = KEXEC_SEGMENT_LAYOUT[abi];
  const out = new Uint8Array(segments.length * layout.size);
  segments.forEach((s, i) => layout.encodeInto(out, i * layout.size, s));
  return out;
}

/**
 * Decodes `nseg` segments from the bytes at the user's pointer, as copyin / memdup_user
 * does. Bytes that end early are KEXEC_EFAULT (rule 'copy-in'). Callers bound `nseg` first
 * (both kernels refuse more than 16 before copying).
 */
export function decodeKexecSegments(abi: KexecAbi, bytes: Uint8Array, nseg: number): RawKexecSegment[] {
  const layout = KEXEC_SEGMENT_LAYOUT[abi];
  const fault = (info: OutOfBoundsInfo): KexecError =>
    new KexecError(
      KexecCode.EFAULT,
      `kexec: the segment array is shorter than nseg entries (${info.length} bytes, ${nseg} × ${layout.size} needed)`,
      { abi, errno: 'EFAULT', errnoNumber: ERRNO[abi].EFAULT, rule: 'copy-in', length: info.length, nseg },
    );
  const out: RawKexecSegment[] = [];
  for (let i = 0; i < nseg; i++) out.push(layout.decode(bytes, i * layout.size, fault));
  return out;
}
