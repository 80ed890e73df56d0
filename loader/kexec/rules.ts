/**
 * kexecLoad(state, request): a kexec_load system call on the host model, in either ABI,
 * enforcing the kernel's rules in the kernel's order with its errno. Pure: the state is a
 * value; the call returns the next state and either the loaded image or the KexecError.
 *
 * Both ABIs first need a host that has reached userspace (KEXEC_NO_USERSPACE otherwise),
 * and kboot refuses arguments that fit no 64-bit register ('argument', EINVAL) before either
 * kernel's rules run.
 *
 * Linux (kernel/kexec.c kexec_load_check, SYSCALL_DEFINE4(kexec_load), do_kexec_load,
 * kimage_alloc_init; kernel/kexec_core.c sanity_check_segment_list,
 * kimage_alloc_crash_control_pages; linux-kexec.md §2.2). Rules, in order:
 *   'permission'        EPERM   no CAP_SYS_BOOT (request.privileged false), kexec_load_disabled, lockdown
 *   'flags'             EINVAL  flag bits outside KEXEC_FLAGS (ON_CRASH | UPDATE_ELFCOREHDR, plus
 *                               PRESERVE_CONTEXT with CONFIG_KEXEC_JUMP) and the arch mask
 *   'segment-count'     EINVAL  nr_segments > 16
 *   'arch'              EINVAL  arch bits neither KEXEC_ARCH_DEFAULT nor the host's KEXEC_ARCH
 *   'copy-in'           EFAULT  the segment array holds fewer than nr_segments entries
 *   'busy'              EBUSY   another load, unload or exec holds the lock (kexec_trylock)
 *   nr_segments == 0: unload that slot (normal, or crash with KEXEC_ON_CRASH); success.
 *   KEXEC_ON_CRASH: the loaded crash image is freed HERE, before anything else is checked, so
 *   a failed crash reload leaves no crash kernel loaded.
 *   'crash-entry'       EADDRNOTAVAIL  crash: entry outside [crashk_res.start, crashk_res.end]
 *   per segment, in the order given: 'wrap' (mem + memsz overflows u64), 'alignment' (mem or
 *     mem + memsz not page aligned), 'destination-limit' (mem + memsz >= the arch's
 *     KEXEC_DESTINATION_MEMORY_LIMIT) — all EADDRNOTAVAIL
 *   'overlap'           EINVAL  two destinations overlap
 *   'bufsz'             EINVAL  bufsz > memsz
 *   'half-ram'          EINVAL  one segment, or all together, over totalram_pages / 2 pages
 *   'crash-bounds'      EADDRNOTAVAIL  crash: a segment outside the crash reservation
 *   'control-page'      ENOMEM  crash: no page-sized hole in the reservation that no segment
 *                               covers; normal: no free page (state.freePages)
 *   'swap-page'         ENOMEM  normal: no second free page
 *   'segment-pages'     ENOMEM  normal: not enough free pages for the segments' contents
 *   'buffer'            EFAULT  a segment's buffer holds fewer than bufsz bytes (copy_from_user)
 *   Then the image replaces the slot's old one. A failed normal load leaves the old one.
 *
 * FreeBSD (sys/kern/kern_kexec.c sys_kexec_load / kern_kexec_load; amd64 kexec_support.c):
 *   'permission'        EPERM   priv_check(PRIV_REBOOT) fails (request.privileged false)
 *   'segment-count'     EINVAL  nseg > 16
 *   'busy'              EBUSY   a load is in progress
 *   nseg == 0: unload the staged image; success.
 *   'copy-in'           EFAULT  the segment array holds fewer than nseg entries
 *   segments are sorted by mem (seg_cmp returns the u64 difference truncated to int, which
 *     can misorder far-apart segments; kboot sorts numerically); per segment: 'phys-segment' EINVAL (not inside ONE
 *     vm_phys_seg: `mem >= start && mem + memsz - 1 <= end`, u64 arithmetic, `end` exclusive
 *     as in vm_phys.c — kboot reproduces the arithmetic, including its wrap-around), then
 *     'bufsz' EINVAL (bufsz > memsz)
 *   'buffer'            EFAULT  a segment's buffer holds fewer than bufsz bytes
 *   'la57'              EINVAL  amd64 with 5-level paging (kexec_load_md)
 *   A failed load leaves the staged image as it was. There is one slot: FreeBSD kexec has no
 *   crash images and ignores `flags` (warning FLAGS_IGNORED). It checks neither alignment nor
 *   overlap; warnings MEMSZ_NOT_PAGE_MULTIPLE (atop truncates the page count) and
 *   OVERLAP_UNCHECKED say so.
 * ENOMEM, EOPNOTSUPP/ENOSYS from machine_kexec_prepare, and LSM errors are not modelled
 * beyond what `state.freePages` expresses.
 */
import { formatRange, hex, U64_LIMIT, U64_MAX, type PhysAddr, type PhysRange, type Size } from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import {
  ERRNO,
  FREEBSD_KEXEC,
  LINUX_KEXEC,
  LINUX_KEXEC_ARCH,
  LINUX_KEXEC_CONTROL_PAGE_SIZE,
  LINUX_KEXEC_DESTINATION_LIMIT,
  type KexecAbi,
  type KexecErrno,
} from './abi.js';
import { KexecCode, KexecError } from './errors.js';

/** One segment of a request: the user's buffer (its bytes) and the raw u64 arguments. */
export interface KexecSegmentRequest {
  /** The bytes at the user's `buf` pointer; fewer than `bufsz` makes the copy fault (EFAULT). */
  readonly buf: Uint8Array;
  readonly bufsz: bigint;
  readonly mem: bigint;
  readonly memsz: bigint;
}

/** The arguments of one kexec_load call. */
export interface KexecRequest {
  /** Physical address the image is entered at. */
  readonly entry: bigint;
  readonly segments: readonly KexecSegmentRequest[];
  /** Linux: KEXEC_* flags | KEXEC_ARCH_*; FreeBSD: reserved (ignored). */
  readonly flags: bigint;
  /** nr_segments / nseg as passed; default `segments.length`. More than there are is EFAULT at copy-in. */
  readonly nseg?: bigint;
  /** Whether the caller holds CAP_SYS_BOOT / PRIV_REBOOT; default true. */
  readonly privileged?: boolean;
}

/** A segment of a loaded image: its destination and the bytes placed there (zero-filled to memsz). */
export interface LoadedSegment {
  readonly mem: PhysAddr;
  readonly memsz: Size;
  readonly data: Uint8Array;
}

/** A loaded (staged) image. */
export interface KexecImage {
  readonly kind: 'normal' | 'crash';
  readonly entry: PhysAddr;
  readonly flags: bigint;
  /** Linux: in the order given; FreeBSD: sorted by destination. */
  readonly segments: readonly LoadedSegment[];
  /** Linux crash images: the control page found in the reservation. */
  readonly controlPage?: PhysAddr;
}

/** The host's kexec-relevant state. */
export interface KexecState {
  readonly abi: KexecAbi;
  readonly arch: Arch;
  /** kexec_load is a system call: nothing can make it before the host runs userspace. */
  readonly userspaceReached: boolean;
  /** Linux crashk_res (FreeBSD kexec has none). */
  readonly crashReservation?: PhysRange;
  /** RAM: Linux counts totalram_pages from it; FreeBSD's vm_phys_segs are these ranges. */
  readonly physSegs: readonly PhysRange[];
  readonly loaded: { readonly normal?: KexecImage; readonly crash?: KexecImage };
  /** Another kexec operation holds the lock. */
  readonly loadInProgress?: boolean;
  /** Linux kernel.kexec_load_disabled = 1. */
  readonly loadDisabled?: boolean;
  /** Linux lockdown forbids kexec_load (LOCKDOWN_KEXEC). */
  readonly lockdown?: boolean;
  /** Linux CONFIG_KEXEC_JUMP (allows KEXEC_PRESERVE_CONTEXT). */
  readonly kexecJump?: boolean;
  /** amd64 5-level paging is on (FreeBSD kexec_load_md refuses it). */
  readonly la57?: boolean;
  /** Free pages the host can give a normal (Linux) image; unlimited when absent. */
  readonly freePages?: bigint;
  /** Overrides LINUX_KEXEC_DESTINATION_LIMIT for the arch. */
  readonly destinationLimit?: bigint;
}

/** Something the kernel accepts that kboot wants to point out. */
export interface KexecWarning {
  readonly code: 'FLAGS_IGNORED' | 'MEMSZ_NOT_PAGE_MULTIPLE' | 'OVERLAP_UNCHECKED';
  readonly message: string;
}

/** The result of one call: always a next state. */
export type KexecOutcome =
  | {
      readonly ok: true;
      readonly state: KexecState;
      readonly action: 'loaded' | 'unloaded';
      /** The slot the call acted on. */
      readonly slot: 'normal' | 'crash';
      readonly image?: KexecImage;
      readonly warnings: readonly KexecWarning[];
    }
  | { readonly ok: false; readonly state: KexecState; readonly error: KexecError };

const CODE_OF: { readonly [E in KexecErrno]: (typeof KexecCode)[E] } = {
  EPERM: KexecCode.EPERM,
  EINVAL: KexecCode.EINVAL,
  EBUSY: KexecCode.EBUSY,
  ENOMEM: KexecCode.ENOMEM,
  EADDRNOTAVAIL: KexecCode.EADDRNOTAVAIL,
  EFAULT: KexecCode.EFAULT,
};

/** Builds the KexecError for `errno` under `rule`. */
function refuse(
  abi: KexecAbi,
  errno: KexecErrno,
  rule: string,
  what: string,
  details: Record<string, unknown> = {},
): KexecError {
  const n = ERRNO[abi][errno];
  return new KexecError(CODE_OF[errno], `kexec: ${what} (${abi} ${errno} ${n}, rule ${rule})`, {
    abi,
    errno,
    errnoNumber: n,
    rule,
    ...details,
  });
}

/** Rule 'copy-in': the caller's segment array must hold the `count` entries it claims (EFAULT). */
function copyInError(abi: KexecAbi, nseg: bigint, req: KexecRequest, countName: string): KexecError | undefined {
  if (nseg <= BigInt(req.segments.length)) return undefined;
  return refuse(
    abi,
    'EFAULT',
    'copy-in',
    `the segment array holds ${hex(req.segments.length)} entries, ${countName} is ${hex(nseg)}`,
    { nseg, available: req.segments.length },
  );
}

const u64 = (v: bigint): bigint => ((v % U64_LIMIT) + U64_LIMIT) % U64_LIMIT;
const pageCount = (bytes: bigint, page: bigint): bigint => (bytes + page - 1n) / page;

function withLoaded(state: KexecState, slot: 'normal' | 'crash', image: KexecImage | undefined): KexecState {
  const loaded: { normal?: KexecImage; crash?: KexecImage } = {};
  const normal = slot === 'normal' ? image : state.loaded.normal;
  const crash = slot === 'crash' ? image : state.loaded.crash;
  if (normal !== undefined) loaded.normal = normal;
  if (crash !== undefined) loaded.crash = crash;
  return Object.freeze({ ...state, loaded: Object.freeze(loaded) });
}

/** Snapshot of the first `bufsz` bytes (the caller checked they exist). */
function loadedSegment(s: KexecSegmentRequest): LoadedSegment {
  return Object.freeze({ mem: s.mem as PhysAddr, memsz: s.memsz as Size, data: s.buf.slice(0, Number(s.bufsz)) });
}

function checkUserspace(state: KexecState): KexecError | undefined {
  if (state.userspaceReached) return undefined;
  return new KexecError(
    KexecCode.NoUserspace,
    'kexec: the host has not reached userspace, so no process can call kexec_load (boot it to "running" first)',
    { abi: state.abi, rule: 'userspace' },
  );
}

function bufferFault(abi: KexecAbi, segs: readonly KexecSegmentRequest[]): KexecError | undefined {
  const i = segs.findIndex((s) => s.bufsz > BigInt(s.buf.length));
  const s = segs[i];
  if (s === undefined) return undefined;
  return refuse(
    abi,
    'EFAULT',
    'buffer',
    `segment ${i}'s buffer holds ${hex(s.buf.length)} bytes, bufsz is ${hex(s.bufsz)}`,
    {
      segment: i,
      bufsz: s.bufsz,
      available: s.buf.length,
    },
  );
}

/** The Linux crash control-page search (kimage_alloc_crash_control_pages); undefined when none fits. */
function crashControlPage(
  crash: PhysRange,
  segs: readonly KexecSegmentRequest[],
  size: bigint,
  limit: bigint,
): bigint | undefined {
  const end = crash.start + crash.size - 1n; // crashk_res.end is inclusive
  const alignUp = (v: bigint): bigint => u64((v + size - 1n) & ~(size - 1n));
  let holeStart = alignUp(crash.start);
  let holeEnd = u64(holeStart + size - 1n);
  // each pass either returns or moves past a segment; bound the passes as the segments do
  for (let pass = 0; pass <= segs.length + 1 && holeEnd <= end; pass++) {
    if (holeEnd > limit) return undefined;
    const hit = segs.find((s) => {
      const mend = u64(s.mem + s.memsz - 1n);
      return holeEnd >= s.mem && holeStart <= mend;
    });
    if (hit === undefined) return holeStart;
    holeStart = alignUp(u64(hit.mem + hit.memsz - 1n));
    holeEnd = u64(holeStart + size - 1n);
  }
  return undefined;
}

function linuxLoad(state: KexecState, req: KexecRequest): KexecOutcome {
  const abi = state.abi;
  const fail = (error: KexecError, next: KexecState = state): KexecOutcome => ({ ok: false, state: next, error });
  const flags = req.flags;
  const nseg = req.nseg ?? BigInt(req.segments.length);
  if (req.privileged === false || state.loadDisabled === true || state.lockdown === true) {
    const why =
      req.privileged === false
        ? 'the caller lacks CAP_SYS_BOOT'
        : state.loadDisabled === true
          ? 'kernel.kexec_load_disabled is set'
          : 'the kernel is locked down (LOCKDOWN_KEXEC)';
    return fail(refuse(abi, 'EPERM', 'permission', `kexec_load is not permitted: ${why}`));
  }
  const allowed =
    LINUX_KEXEC.ON_CRASH |
    LINUX_KEXEC.UPDATE_ELFCOREHDR |
    (state.kexecJump === true ? LINUX_KEXEC.PRESERVE_CONTEXT : 0n);
  const extra = flags & ~(allowed | LINUX_KEXEC.ARCH_MASK);
  if (extra !== 0n || flags < 0n || flags > U64_MAX) {
    return fail(
      refuse(abi, 'EINVAL', 'flags', `unknown kexec_load flags (flags ${hex(flags)}, not allowed ${hex(extra)})`, {
        flags,
      }),
    );
  }
  if (nseg > BigInt(LINUX_KEXEC.SEGMENT_MAX)) {
    return fail(
      refuse(
        abi,
        'EINVAL',
        'segment-count',
        `too many segments (nr_segments ${hex(nseg)}, KEXEC_SEGMENT_MAX ${hex(LINUX_KEXEC.SEGMENT_MAX)})`,
        { nseg },
      ),
    );
  }
  const archBits = flags & LINUX_KEXEC.ARCH_MASK;
  const native = LINUX_KEXEC_ARCH[state.arch];
  if (archBits !== LINUX_KEXEC.ARCH_DEFAULT && archBits !== native) {
    return fail(
      refuse(
        abi,
        'EINVAL',
        'arch',
        `image arch does not match the kernel (flags arch ${hex(archBits)}, kernel KEXEC_ARCH ${hex(native)})`,
        { arch: archBits, native },
      ),
    );
  }
  const copyIn = copyInError(abi, nseg, req, 'nr_segments');
  if (copyIn !== undefined) return fail(copyIn);
  if (state.loadInProgress === true) {
    return fail(refuse(abi, 'EBUSY', 'busy', 'another kexec operation is in progress (kexec_trylock failed)'));
  }
  const crash = (flags & LINUX_KEXEC.ON_CRASH) !== 0n;
  const slot = crash ? 'crash' : 'normal';
  if (nseg === 0n) {
    return { ok: true, state: withLoaded(state, slot, undefined), action: 'unloaded', slot, warnings: [] };
  }
  // "Free any current crash dump kernel before we corrupt it": from here a failure keeps it freed
  const base = crash ? withLoaded(state, 'crash', undefined) : state;
  const failed = (e: KexecError): KexecOutcome => fail(e, base);
  const segs = req.segments.slice(0, Number(nseg));
  const region = state.crashReservation;
  if (crash) {
    if (
      region === undefined ||
      region.size === 0n ||
      req.entry < region.start ||
      req.entry > region.start + region.size - 1n
    ) {
      return failed(
        refuse(
          abi,
          'EADDRNOTAVAIL',
          'crash-entry',
          `crash entry ${hex(req.entry)} lies outside the crash reservation (${region === undefined ? 'none reserved' : formatRange(region)})`,
          {
            entry: req.entry,
          },
        ),
      );
    }
  }
  const page = archInfo(state.arch).pageSize as bigint;
  const limit = state.destinationLimit ?? LINUX_KEXEC_DESTINATION_LIMIT[state.arch];
  for (const [i, s] of segs.entries()) {
    const mend = u64(s.mem + s.memsz);
    const facts = { segment: i, mem: s.mem, memsz: s.memsz };
    if (s.mem > mend)
      return failed(
        refuse(
          abi,
          'EADDRNOTAVAIL',
          'wrap',
          `segment ${i} wraps past 2^64 (mem ${hex(s.mem)}, memsz ${hex(s.memsz)})`,
          facts,
        ),
      );
    if (s.mem % page !== 0n || mend % page !== 0n) {
      return failed(
        refuse(
          abi,
          'EADDRNOTAVAIL',
          'alignment',
          `segment ${i} is not page aligned (mem ${hex(s.mem)}, end ${hex(mend)}, page ${hex(page)})`,
          facts,
        ),
      );
    }
    if (mend >= limit) {
      return failed(
        refuse(
          abi,
          'EADDRNOTAVAIL',
          'destination-limit',
          `segment ${i} ends at or past KEXEC_DESTINATION_MEMORY_LIMIT (end ${hex(mend)}, limit ${hex(limit)})`,
          { ...facts, limit },
        ),
      );
    }
  }
  for (let i = 0; i < segs.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = segs[i];
      const b = segs[j];
      if (a === undefined || b === undefined) continue;
      if (a.mem + a.memsz > b.mem && a.mem < b.mem + b.memsz) {
        return failed(
          refuse(
            abi,
            'EINVAL',
            'overlap',
            `segments ${j} and ${i} overlap ([${hex(b.mem)}, ${hex(b.mem + b.memsz)}) and [${hex(a.mem)}, ${hex(a.mem + a.memsz)}))`,
            {
              segments: [j, i],
            },
          ),
        );
      }
    }
  }
  for (const [i, s] of segs.entries()) {
    if (s.bufsz > s.memsz) {
      return failed(
        refuse(abi, 'EINVAL', 'bufsz', `segment ${i} has bufsz > memsz (${hex(s.bufsz)} > ${hex(s.memsz)})`, {
          segment: i,
          bufsz: s.bufsz,
          memsz: s.memsz,
        }),
      );
    }
  }
  const totalRam = state.physSegs.reduce((a, r) => a + (r.size as bigint), 0n) / page;
  let total = 0n;
  for (const [i, s] of segs.entries()) {
    const n = pageCount(s.memsz, page);
    if (n > totalRam / 2n) {
      return failed(
        refuse(
          abi,
          'EINVAL',
          'half-ram',
          `segment ${i} is more than half of RAM (${hex(n)} pages of ${hex(totalRam)})`,
          { segment: i, pages: n, totalRam },
        ),
      );
    }
    total += n;
  }
  if (total > totalRam / 2n) {
    return failed(
      refuse(
        abi,
        'EINVAL',
        'half-ram',
        `the segments are more than half of RAM (${hex(total)} pages of ${hex(totalRam)})`,
        { pages: total, totalRam },
      ),
    );
  }
  if (crash && region !== undefined) {
    const rEnd = region.start + region.size - 1n;
    for (const [i, s] of segs.entries()) {
      const mend = u64(s.mem + s.memsz - 1n);
      if (s.mem < region.start || mend > rEnd) {
        return failed(
          refuse(
            abi,
            'EADDRNOTAVAIL',
            'crash-bounds',
            `segment ${i} [${hex(s.mem)}, ${hex(s.mem + s.memsz)}) lies outside the crash reservation ${formatRange(region)}`,
            {
              segment: i,
              mem: s.mem,
              memsz: s.memsz,
            },
          ),
        );
      }
    }
  }
  let controlPage: bigint | undefined;
  if (crash && region !== undefined) {
    controlPage = crashControlPage(region, segs, LINUX_KEXEC_CONTROL_PAGE_SIZE[state.arch], limit);
    if (controlPage === undefined) {
      return failed(
        refuse(
          abi,
          'ENOMEM',
          'control-page',
          `no free page for the control code in the crash reservation ${formatRange(region)} (the segments cover it)`,
        ),
      );
    }
  } else if (state.freePages !== undefined) {
    const need = segs.reduce((a, s) => a + pageCount(s.memsz, page), 0n);
    if (state.freePages < 1n) return failed(refuse(abi, 'ENOMEM', 'control-page', 'no free page for the control code'));
    if (state.freePages < 2n) return failed(refuse(abi, 'ENOMEM', 'swap-page', 'no free page for the swap page'));
    if (state.freePages < 2n + need) {
      return failed(
        refuse(
          abi,
          'ENOMEM',
          'segment-pages',
          `not enough free pages for the segments (${hex(need)} needed after the control and swap pages, ${hex(state.freePages)} free)`,
          {
            need,
            free: state.freePages,
          },
        ),
      );
    }
  }
  const fault = bufferFault(abi, segs);
  if (fault !== undefined) return failed(fault);
  const image: KexecImage = Object.freeze({
    kind: slot,
    entry: req.entry as PhysAddr,
    flags,
    segments: Object.freeze(segs.map(loadedSegment)),
    ...(controlPage === undefined ? {} : { controlPage: controlPage as PhysAddr }),
  });
  return { ok: true, state: withLoaded(base, slot, image), action: 'loaded', slot, image, warnings: [] };
}

function freebsdLoad(state: KexecState, req: KexecRequest): KexecOutcome {
  const abi = state.abi;
  const fail = (error: KexecError): KexecOutcome => ({ ok: false, state, error });
  const nseg = req.nseg ?? BigInt(req.segments.length);
  if (req.privileged === false) return fail(refuse(abi, 'EPERM', 'permission', 'priv_check(PRIV_REBOOT) failed'));
  if (nseg > BigInt(FREEBSD_KEXEC.SEGMENT_MAX)) {
    return fail(
      refuse(
        abi,
        'EINVAL',
        'segment-count',
        `too many segments (nseg ${hex(nseg)}, KEXEC_SEGMENT_MAX ${hex(FREEBSD_KEXEC.SEGMENT_MAX)})`,
        { nseg },
      ),
    );
  }
  if (state.loadInProgress === true) return fail(refuse(abi, 'EBUSY', 'busy', 'another kexec_load is in progress'));
  const warnings: KexecWarning[] = [];
  if (req.flags !== 0n) {
    warnings.push({
      code: 'FLAGS_IGNORED',
      message: `flags ${hex(req.flags)} are reserved; FreeBSD's kern_kexec_load ignores them (no crash images)`,
    });
  }
  if (nseg === 0n) {
    return { ok: true, state: withLoaded(state, 'normal', undefined), action: 'unloaded', slot: 'normal', warnings };
  }
  const copyIn = copyInError(abi, nseg, req, 'nseg');
  if (copyIn !== undefined) return fail(copyIn);
  const segs = req.segments.slice(0, Number(nseg)).sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
  for (const [i, s] of segs.entries()) {
    const last = u64(s.mem + s.memsz - 1n);
    const fits = state.physSegs.some((r) => s.mem >= r.start && last <= r.start + r.size);
    if (!fits) {
      return fail(
        refuse(
          abi,
          'EINVAL',
          'phys-segment',
          `sorted segment ${i} [${hex(s.mem)}, ${hex(s.mem + s.memsz)}) is not inside one vm_phys_seg (${state.physSegs.map(formatRange).join(', ') || 'none'})`,
          {
            segment: i,
            mem: s.mem,
            memsz: s.memsz,
          },
        ),
      );
    }
    if (s.bufsz > s.memsz) {
      return fail(
        refuse(abi, 'EINVAL', 'bufsz', `sorted segment ${i} has bufsz > memsz (${hex(s.bufsz)} > ${hex(s.memsz)})`, {
          segment: i,
          bufsz: s.bufsz,
          memsz: s.memsz,
        }),
      );
    }
  }
  const fault = bufferFault(abi, segs);
  if (fault !== undefined) return fail(fault);
  if (state.arch === 'amd64' && state.la57 === true) {
    return fail(refuse(abi, 'EINVAL', 'la57', 'kexec_load_md refuses a host with 5-level paging (la57)'));
  }
  const page = archInfo(state.arch).pageSize as bigint;
  segs.forEach((s, i) => {
    if (s.memsz % page !== 0n) {
      warnings.push({
        code: 'MEMSZ_NOT_PAGE_MULTIPLE',
        message: `sorted segment ${i} memsz ${hex(s.memsz)} is not a page multiple; FreeBSD counts atop(memsz) = ${hex(s.memsz / page)} pages`,
      });
    }
  });
  for (let i = 1; i < segs.length; i++) {
    const a = segs[i - 1];
    const b = segs[i];
    if (a !== undefined && b !== undefined && a.mem + a.memsz > b.mem) {
      warnings.push({
        code: 'OVERLAP_UNCHECKED',
        message: `sorted segments ${i - 1} and ${i} overlap; FreeBSD does not check this`,
      });
    }
  }
  const image: KexecImage = Object.freeze({
    kind: 'normal',
    entry: req.entry as PhysAddr,
    flags: req.flags,
    segments: Object.freeze(segs.map(loadedSegment)),
  });
  return { ok: true, state: withLoaded(state, 'normal', image), action: 'loaded', slot: 'normal', image, warnings };
}

/** One kexec_load call (see the module contract). Never throws for a refused call: the error is in the outcome. */
export function kexecLoad(state: KexecState, request: KexecRequest): KexecOutcome {
  const early = checkUserspace(state);
  if (early !== undefined) return { ok: false, state, error: early };
  if (
    request.entry < 0n ||
    request.entry > U64_MAX ||
    request.segments.some(
      (s) => s.mem < 0n || s.memsz < 0n || s.bufsz < 0n || s.mem > U64_MAX || s.memsz > U64_MAX || s.bufsz > U64_MAX,
    )
  ) {
    return {
      ok: false,
      state,
      error: refuse(state.abi, 'EINVAL', 'argument', 'an argument does not fit an unsigned 64-bit register'),
    };
  }
  return state.abi === 'linux' ? linuxLoad(state, request) : freebsdLoad(state, request);
}

/** kexecLoad that returns the next state on success and throws the KexecError otherwise. */
export function applyKexecLoad(state: KexecState, request: KexecRequest): KexecState {
  const r = kexecLoad(state, request);
  if (!r.ok) throw r.error;
  return r.state;
}

/** Unloads a slot: kexec_load with zero segments (and KEXEC_ON_CRASH for the crash slot on Linux). */
export function kexecUnload(state: KexecState, slot: 'normal' | 'crash' = 'normal'): KexecOutcome {
  const flags = state.abi === 'linux' && slot === 'crash' ? LINUX_KEXEC.ON_CRASH : 0n;
  return kexecLoad(state, { entry: 0n, segments: [], flags });
}
