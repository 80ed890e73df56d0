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
 * Each kernel's order is one table of named steps (LINUX_STEPS, FREEBSD_STEPS; per-segment
 * rules run segment by segment, as the kernels' loops do) run by one runner; the rules both
 * kernels share ('segment-count', 'copy-in', 'busy', 'bufsz', 'buffer') are one step each.
 * ENOMEM, EOPNOTSUPP/ENOSYS from machine_kexec_prepare, and LSM errors are not modelled
 * beyond what `state.freePages` expresses.
 */
import { formatRange, hex, phys, size, U64_LIMIT, U64_MAX, type PhysAddr, type PhysRange, type Size } from '../addr.js';
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

/** Snapshot of the first `bufsz` bytes (the caller checked they exist; 'argument' checked the u64s). */
function loadedSegment(s: KexecSegmentRequest): LoadedSegment {
  return Object.freeze({ mem: phys(s.mem), memsz: size(s.memsz), data: s.buf.slice(0, Number(s.bufsz)) });
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

/** What the rules of one call see, and what earlier steps leave for later ones. */
interface LoadContext {
  readonly abi: KexecAbi;
  readonly state: KexecState;
  readonly req: KexecRequest;
  /** nr_segments / nseg as passed. */
  readonly nseg: bigint;
  readonly page: bigint;
  readonly slot: 'normal' | 'crash';
  /** The first `nseg` segments (FreeBSD: sorted by destination once copied in). */
  segs: readonly KexecSegmentRequest[];
  /** The state a refusal leaves: Linux frees a crash image before its later checks. */
  failState: KexecState;
  readonly warnings: KexecWarning[];
  /** Linux crash images: the control page found in the reservation. */
  controlPage?: bigint;
}

/** A step's verdict: a refusal, a finished call (an unload), or nothing (the next step runs). */
type StepResult = KexecError | KexecOutcome | undefined;

/** One named step of a kernel's kexec_load, in the kernel's order. */
interface LoadStep {
  /** The rule it enforces (the `rule` of its errors), or what it does. */
  readonly name: string;
  readonly run: (c: LoadContext) => StepResult;
}

/** A rule checked on each segment in turn (index `i` in the kernel's order). */
type SegmentRule = (c: LoadContext, s: KexecSegmentRequest, i: number) => KexecError | undefined;

/** A step that runs `rules` on segment 0, then on segment 1, …: the first broken one wins. */
function eachSegment(name: string, ...rules: readonly SegmentRule[]): LoadStep {
  return {
    name,
    run: (c) => {
      for (const [i, s] of c.segs.entries()) {
        for (const rule of rules) {
          const e = rule(c, s, i);
          if (e !== undefined) return e;
        }
      }
      return undefined;
    },
  };
}

/** Runs the steps in order; the first verdict ends the call, else the image is loaded. */
function runSteps(steps: readonly LoadStep[], c: LoadContext): KexecOutcome {
  for (const step of steps) {
    const r = step.run(c);
    if (r instanceof KexecError) return { ok: false, state: c.failState, error: r };
    if (r !== undefined) return r;
  }
  const image: KexecImage = Object.freeze({
    kind: c.slot,
    entry: phys(c.req.entry),
    flags: c.req.flags,
    segments: Object.freeze(c.segs.map(loadedSegment)),
    ...(c.controlPage === undefined ? {} : { controlPage: phys(c.controlPage) }),
  });
  const state = withLoaded(c.failState, c.slot, image);
  return { ok: true, state, action: 'loaded', slot: c.slot, image, warnings: c.warnings };
}

// --- steps both kernels take -----------------------------------------------------------------

/** 'segment-count': at most KEXEC_SEGMENT_MAX segments (EINVAL). */
function segmentCount(max: number, countName: string): LoadStep {
  return {
    name: 'segment-count',
    run: (c) =>
      c.nseg > BigInt(max)
        ? refuse(
            c.abi,
            'EINVAL',
            'segment-count',
            `too many segments (${countName} ${hex(c.nseg)}, KEXEC_SEGMENT_MAX ${hex(max)})`,
            { nseg: c.nseg },
          )
        : undefined,
  };
}

/** 'copy-in': the segment array holds the entries the count claims (EFAULT). */
function copyIn(countName: string): LoadStep {
  return { name: 'copy-in', run: (c) => copyInError(c.abi, c.nseg, c.req, countName) };
}

/** 'busy': another kexec operation holds the lock (EBUSY). */
function busy(what: string): LoadStep {
  return {
    name: 'busy',
    run: (c) => (c.state.loadInProgress === true ? refuse(c.abi, 'EBUSY', 'busy', what) : undefined),
  };
}

/** Zero segments unload the slot: the call succeeds here. */
const unloadOnZero: LoadStep = {
  name: 'unload',
  run: (c) =>
    c.nseg === 0n
      ? {
          ok: true,
          state: withLoaded(c.state, c.slot, undefined),
          action: 'unloaded',
          slot: c.slot,
          warnings: c.warnings,
        }
      : undefined,
};

/** 'bufsz': a segment's buffer is no larger than its destination (EINVAL). */
const bufszWithin =
  (label: string): SegmentRule =>
  (c, s, i) =>
    s.bufsz > s.memsz
      ? refuse(c.abi, 'EINVAL', 'bufsz', `${label} ${i} has bufsz > memsz (${hex(s.bufsz)} > ${hex(s.memsz)})`, {
          segment: i,
          bufsz: s.bufsz,
          memsz: s.memsz,
        })
      : undefined;

/** 'buffer': copy_from_user faults when a buffer holds fewer than bufsz bytes (EFAULT). */
const bufferCopy: LoadStep = { name: 'buffer', run: (c) => bufferFault(c.abi, c.segs) };

// --- Linux -----------------------------------------------------------------------------------

/** 'permission': CAP_SYS_BOOT, kernel.kexec_load_disabled, lockdown (EPERM). */
function linuxPermission(c: LoadContext): StepResult {
  const { req, state } = c;
  if (req.privileged !== false && state.loadDisabled !== true && state.lockdown !== true) return undefined;
  const why =
    req.privileged === false
      ? 'the caller lacks CAP_SYS_BOOT'
      : state.loadDisabled === true
        ? 'kernel.kexec_load_disabled is set'
        : 'the kernel is locked down (LOCKDOWN_KEXEC)';
  return refuse(c.abi, 'EPERM', 'permission', `kexec_load is not permitted: ${why}`);
}

/** 'flags': only KEXEC_FLAGS (PRESERVE_CONTEXT with CONFIG_KEXEC_JUMP) and the arch mask (EINVAL). */
function linuxFlags(c: LoadContext): StepResult {
  const flags = c.req.flags;
  const allowed =
    LINUX_KEXEC.ON_CRASH |
    LINUX_KEXEC.UPDATE_ELFCOREHDR |
    (c.state.kexecJump === true ? LINUX_KEXEC.PRESERVE_CONTEXT : 0n);
  const extra = flags & ~(allowed | LINUX_KEXEC.ARCH_MASK);
  if (extra === 0n && flags >= 0n && flags <= U64_MAX) return undefined;
  return refuse(c.abi, 'EINVAL', 'flags', `unknown kexec_load flags (flags ${hex(flags)}, not allowed ${hex(extra)})`, {
    flags,
  });
}

/** 'arch': KEXEC_ARCH_DEFAULT or the kernel's own KEXEC_ARCH (EINVAL). */
function linuxArch(c: LoadContext): StepResult {
  const archBits = c.req.flags & LINUX_KEXEC.ARCH_MASK;
  const native = LINUX_KEXEC_ARCH[c.state.arch];
  if (archBits === LINUX_KEXEC.ARCH_DEFAULT || archBits === native) return undefined;
  return refuse(
    c.abi,
    'EINVAL',
    'arch',
    `image arch does not match the kernel (flags arch ${hex(archBits)}, kernel KEXEC_ARCH ${hex(native)})`,
    { arch: archBits, native },
  );
}

/** "Free any current crash dump kernel before we corrupt it": from here a refusal keeps it freed. */
function linuxFreeCrash(c: LoadContext): StepResult {
  if (c.slot === 'crash') c.failState = withLoaded(c.state, 'crash', undefined);
  return undefined;
}

/** 'crash-entry': a crash image's entry lies in crashk_res (EADDRNOTAVAIL). */
function linuxCrashEntry(c: LoadContext): StepResult {
  const region = c.state.crashReservation;
  const entry = c.req.entry;
  if (c.slot !== 'crash') return undefined;
  if (region !== undefined && region.size !== 0n && entry >= region.start && entry <= region.start + region.size - 1n) {
    return undefined;
  }
  return refuse(
    c.abi,
    'EADDRNOTAVAIL',
    'crash-entry',
    `crash entry ${hex(entry)} lies outside the crash reservation (${region === undefined ? 'none reserved' : formatRange(region)})`,
    {
      entry,
    },
  );
}

/** 'wrap', 'alignment', 'destination-limit' (sanity_check_segment_list's first loop, EADDRNOTAVAIL). */
const linuxDestination: SegmentRule = (c, s, i) => {
  const mend = u64(s.mem + s.memsz);
  const facts = { segment: i, mem: s.mem, memsz: s.memsz };
  const limit = linuxDestinationLimit(c.state);
  if (s.mem > mend) {
    return refuse(
      c.abi,
      'EADDRNOTAVAIL',
      'wrap',
      `segment ${i} wraps past 2^64 (mem ${hex(s.mem)}, memsz ${hex(s.memsz)})`,
      facts,
    );
  }
  if (s.mem % c.page !== 0n || mend % c.page !== 0n) {
    return refuse(
      c.abi,
      'EADDRNOTAVAIL',
      'alignment',
      `segment ${i} is not page aligned (mem ${hex(s.mem)}, end ${hex(mend)}, page ${hex(c.page)})`,
      facts,
    );
  }
  if (mend >= limit) {
    return refuse(
      c.abi,
      'EADDRNOTAVAIL',
      'destination-limit',
      `segment ${i} ends at or past KEXEC_DESTINATION_MEMORY_LIMIT (end ${hex(mend)}, limit ${hex(limit)})`,
      { ...facts, limit },
    );
  }
  return undefined;
};

function linuxDestinationLimit(state: KexecState): bigint {
  return state.destinationLimit ?? LINUX_KEXEC_DESTINATION_LIMIT[state.arch];
}

/** 'overlap': no two destinations overlap (EINVAL). */
function linuxOverlap(c: LoadContext): StepResult {
  const segs = c.segs;
  for (let i = 0; i < segs.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = segs[i];
      const b = segs[j];
      if (a === undefined || b === undefined) continue;
      if (a.mem + a.memsz > b.mem && a.mem < b.mem + b.memsz) {
        return refuse(
          c.abi,
          'EINVAL',
          'overlap',
          `segments ${j} and ${i} overlap ([${hex(b.mem)}, ${hex(b.mem + b.memsz)}) and [${hex(a.mem)}, ${hex(a.mem + a.memsz)}))`,
          {
            segments: [j, i],
          },
        );
      }
    }
  }
  return undefined;
}

/** 'half-ram': no segment, and not all together, over totalram_pages / 2 (EINVAL). */
function linuxHalfRam(c: LoadContext): StepResult {
  const totalRam = c.state.physSegs.reduce((a, r) => a + (r.size as bigint), 0n) / c.page;
  let total = 0n;
  for (const [i, s] of c.segs.entries()) {
    const n = pageCount(s.memsz, c.page);
    if (n > totalRam / 2n) {
      return refuse(
        c.abi,
        'EINVAL',
        'half-ram',
        `segment ${i} is more than half of RAM (${hex(n)} pages of ${hex(totalRam)})`,
        { segment: i, pages: n, totalRam },
      );
    }
    total += n;
  }
  if (total <= totalRam / 2n) return undefined;
  return refuse(
    c.abi,
    'EINVAL',
    'half-ram',
    `the segments are more than half of RAM (${hex(total)} pages of ${hex(totalRam)})`,
    { pages: total, totalRam },
  );
}

/** 'crash-bounds': every segment of a crash image lies in crashk_res (EADDRNOTAVAIL). */
const linuxCrashBounds: SegmentRule = (c, s, i) => {
  const region = c.state.crashReservation;
  if (c.slot !== 'crash' || region === undefined) return undefined;
  const rEnd = region.start + region.size - 1n;
  const mend = u64(s.mem + s.memsz - 1n);
  if (s.mem >= region.start && mend <= rEnd) return undefined;
  return refuse(
    c.abi,
    'EADDRNOTAVAIL',
    'crash-bounds',
    `segment ${i} [${hex(s.mem)}, ${hex(s.mem + s.memsz)}) lies outside the crash reservation ${formatRange(region)}`,
    {
      segment: i,
      mem: s.mem,
      memsz: s.memsz,
    },
  );
};

/** 'control-page', then for normal images 'swap-page' and 'segment-pages' (ENOMEM). */
function linuxPages(c: LoadContext): StepResult {
  const { state, abi } = c;
  const region = state.crashReservation;
  if (c.slot === 'crash' && region !== undefined) {
    const found = crashControlPage(
      region,
      c.segs,
      LINUX_KEXEC_CONTROL_PAGE_SIZE[state.arch],
      linuxDestinationLimit(state),
    );
    if (found !== undefined) {
      c.controlPage = found;
      return undefined;
    }
    return refuse(
      abi,
      'ENOMEM',
      'control-page',
      `no free page for the control code in the crash reservation ${formatRange(region)} (the segments cover it)`,
    );
  }
  if (state.freePages === undefined) return undefined;
  const need = c.segs.reduce((a, s) => a + pageCount(s.memsz, c.page), 0n);
  if (state.freePages < 1n) return refuse(abi, 'ENOMEM', 'control-page', 'no free page for the control code');
  if (state.freePages < 2n) return refuse(abi, 'ENOMEM', 'swap-page', 'no free page for the swap page');
  if (state.freePages >= 2n + need) return undefined;
  return refuse(
    abi,
    'ENOMEM',
    'segment-pages',
    `not enough free pages for the segments (${hex(need)} needed after the control and swap pages, ${hex(state.freePages)} free)`,
    {
      need,
      free: state.freePages,
    },
  );
}

/** Linux kexec_load in the kernel's order (see the module contract). */
const LINUX_STEPS: readonly LoadStep[] = [
  { name: 'permission', run: linuxPermission },
  { name: 'flags', run: linuxFlags },
  segmentCount(LINUX_KEXEC.SEGMENT_MAX, 'nr_segments'),
  { name: 'arch', run: linuxArch },
  copyIn('nr_segments'),
  busy('another kexec operation is in progress (kexec_trylock failed)'),
  unloadOnZero,
  { name: 'free-crash', run: linuxFreeCrash },
  { name: 'crash-entry', run: linuxCrashEntry },
  eachSegment('destination', linuxDestination),
  { name: 'overlap', run: linuxOverlap },
  eachSegment('bufsz', bufszWithin('segment')),
  { name: 'half-ram', run: linuxHalfRam },
  eachSegment('crash-bounds', linuxCrashBounds),
  { name: 'pages', run: linuxPages },
  bufferCopy,
];

// --- FreeBSD ---------------------------------------------------------------------------------

/** 'permission': priv_check(PRIV_REBOOT) (EPERM). */
function freebsdPermission(c: LoadContext): StepResult {
  return c.req.privileged === false
    ? refuse(c.abi, 'EPERM', 'permission', 'priv_check(PRIV_REBOOT) failed')
    : undefined;
}

/** FreeBSD has no crash images and ignores `flags`: a warning says so. */
function freebsdFlagsIgnored(c: LoadContext): StepResult {
  if (c.req.flags !== 0n) {
    c.warnings.push({
      code: 'FLAGS_IGNORED',
      message: `flags ${hex(c.req.flags)} are reserved; FreeBSD's kern_kexec_load ignores them (no crash images)`,
    });
  }
  return undefined;
}

/** The segments sorted by destination (kboot sorts numerically; seg_cmp's int truncation is not reproduced). */
function freebsdSort(c: LoadContext): StepResult {
  c.segs = [...c.segs].sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
  return undefined;
}

/** 'phys-segment': inside ONE vm_phys_seg, with vm_phys.c's u64 arithmetic (EINVAL). */
const freebsdPhysSegment: SegmentRule = (c, s, i) => {
  const physSegs = c.state.physSegs;
  const last = u64(s.mem + s.memsz - 1n);
  if (physSegs.some((r) => s.mem >= r.start && last <= r.start + r.size)) return undefined;
  return refuse(
    c.abi,
    'EINVAL',
    'phys-segment',
    `sorted segment ${i} [${hex(s.mem)}, ${hex(s.mem + s.memsz)}) is not inside one vm_phys_seg (${physSegs.map(formatRange).join(', ') || 'none'})`,
    {
      segment: i,
      mem: s.mem,
      memsz: s.memsz,
    },
  );
};

/** 'la57': amd64 kexec_load_md refuses 5-level paging (EINVAL). */
function freebsdLa57(c: LoadContext): StepResult {
  return c.state.arch === 'amd64' && c.state.la57 === true
    ? refuse(c.abi, 'EINVAL', 'la57', 'kexec_load_md refuses a host with 5-level paging (la57)')
    : undefined;
}

/** What FreeBSD accepts but kboot points out: memsz not a page multiple, overlaps. */
function freebsdUncheckedWarnings(c: LoadContext): StepResult {
  const { segs, page } = c;
  segs.forEach((s, i) => {
    if (s.memsz % page !== 0n) {
      c.warnings.push({
        code: 'MEMSZ_NOT_PAGE_MULTIPLE',
        message: `sorted segment ${i} memsz ${hex(s.memsz)} is not a page multiple; FreeBSD counts atop(memsz) = ${hex(s.memsz / page)} pages`,
      });
    }
  });
  for (let i = 1; i < segs.length; i++) {
    const a = segs[i - 1];
    const b = segs[i];
    if (a !== undefined && b !== undefined && a.mem + a.memsz > b.mem) {
      c.warnings.push({
        code: 'OVERLAP_UNCHECKED',
        message: `sorted segments ${i - 1} and ${i} overlap; FreeBSD does not check this`,
      });
    }
  }
  return undefined;
}

/** FreeBSD kern_kexec_load in the kernel's order (see the module contract). */
const FREEBSD_STEPS: readonly LoadStep[] = [
  { name: 'permission', run: freebsdPermission },
  segmentCount(FREEBSD_KEXEC.SEGMENT_MAX, 'nseg'),
  busy('another kexec_load is in progress'),
  { name: 'flags-ignored', run: freebsdFlagsIgnored },
  unloadOnZero,
  copyIn('nseg'),
  { name: 'sort', run: freebsdSort },
  eachSegment('phys-segment', freebsdPhysSegment, bufszWithin('sorted segment')),
  bufferCopy,
  { name: 'la57', run: freebsdLa57 },
  { name: 'warnings', run: freebsdUncheckedWarnings },
];

/** The names of one ABI's steps, in the order kexecLoad runs them. */
export function kexecLoadSteps(abi: KexecAbi): readonly string[] {
  return (abi === 'linux' ? LINUX_STEPS : FREEBSD_STEPS).map((s) => s.name);
}

function loadContext(state: KexecState, req: KexecRequest): LoadContext {
  const nseg = req.nseg ?? BigInt(req.segments.length);
  const crash = state.abi === 'linux' && (req.flags & LINUX_KEXEC.ON_CRASH) !== 0n;
  return {
    abi: state.abi,
    state,
    req,
    nseg,
    page: archInfo(state.arch).pageSize,
    slot: crash ? 'crash' : 'normal',
    segs: req.segments.slice(0, Number(nseg)),
    failState: state,
    warnings: [],
  };
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
  return runSteps(state.abi === 'linux' ? LINUX_STEPS : FREEBSD_STEPS, loadContext(state, request));
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
