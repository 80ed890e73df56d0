/**
 * A host session: the emulated machine running a FreeBSD-shaped host (machine/host/model.ts)
 * along its boot timeline, with the rescue kernel armed one of three ways, and a panic that
 * hands off to it on the CPU.
 *
 *  - embed: the rescue ELF is carried inside the host kernel image (loader/embed, as
 *    RESCUE_EMBED builds it); at SI_SUB_VM_CONF rescue_kernel_init finds it between the
 *    host's rescue_start/rescue_end symbols in guest RAM;
 *  - kld: the boot loader preloads it as a module of type `rescue_kernel`
 *    (loader.conf `rescue_kernel_load="YES"`); at SI_SUB_VM_CONF rescue_kernel_init finds it
 *    by walking the preload metadata (modinfo) in guest RAM;
 *  - kexec: rescue_kernel_init only reserves the area at SI_SUB_VM_CONF (as `crashkernel=`
 *    does); once userspace runs, `loadCrash` makes a kexec_load-style call (both ABIs'
 *    rules, loader/kexec) whose segments are the reservation's contents.
 * For embed and kld, rescue_kernel_init lays the reservation out exactly per planRescue
 * (markjdb/freebsd @bd74b35 rescue_machdep.c): metadata written, the kernel copied natively
 * from where the host holds it. The reservation contents are therefore byte-identical across
 * the three strategies for the same kernel, profile and seed; what differs is when and how
 * they got there. At panic, rescue_dump_params are filled from the host (dumpParams) and
 * D47358's rescue_kernel_exec trampoline runs on the CPU, unless a segment staged for the
 * rescue kernel changed since it was armed (machine/purgatory.ts, kexec-tools' purgatory).
 *
 * Contract: only what a kernel would know is used after boot: rescue_kernel_init reads the
 * rescue ELF from guest memory; the panic path reads the armed plan the host kept.
 */
import { createHash } from 'node:crypto';
import { hex, overlaps, type PhysAddr, type PhysRange, type Size } from '../loader/addr.js';
import { embedRescue } from '../loader/embed/index.js';
import { parseElf } from '../loader/elf/reader.js';
import {
  AMD64_RESCUE_DUMP_PARAMS_SIZE,
  ARM64_RESCUE_DUMP_PARAMS_SIZE,
  decodeRescueParams,
  encodeRescueParams,
  rescueDumpFields,
} from '../loader/handoff/params.js';
import { decodeModinfo, groupModules } from '../loader/handoff/modinfo.js';
import {
  crashRequestFromPlan,
  kexecLoad,
  kexecUnload,
  LINUX_KEXEC_ARCH,
  type KexecAbi,
  type KexecOutcome,
  type KexecRequest,
  type KexecState,
} from '../loader/kexec/index.js';
import { RESCUE_KERNEL_MODULE_TYPE } from '../loader/preload/index.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { planRescue, type RescuePlan } from '../loader/plan/rescue-plan.js';
import { planKexecBoot } from '../loader/plan/kexec-plan.js';
import { trampolineOps } from '../loader/trampoline/index.js';
import type { Arch } from '../loader/arch/index.js';
import { metadataAddress, metadataToPhys } from './host/handoff.js';
import { checkEntryContract } from './contract.js';
import { buildMemoryMap } from '../loader/plan/memory-map.js';
import { findHole, subtract } from '../loader/plan/ranges.js';
import { archInfo } from '../loader/arch/index.js';
import { hostKernelElf } from '../kernels/host-elf.js';
import { buildHostModel, dumpParams, installHost, type HostModel } from './host/model.js';
import { HostTimeline, type HostPhase, type PhaseStep } from './host/timeline.js';
import { runJump, unprotectAll, type JumpResult } from './jump.js';
import {
  recordSegments,
  refusalReason,
  verifySegments,
  type ChangedSegment,
  type SegmentDigests,
} from './purgatory.js';
import { Machine } from './machine.js';
import { isProbeKernel } from './exec.js';
import { decodeProbeReport, probeReportVa, ProbeReportLayout, type ProbeReport } from '../kernels/probe/index.js';
import type { StopReason } from './cpu.js';
import { MachineCode, MachineError } from './errors.js';

/** How the rescue kernel is armed: embedded in the host kernel (RESCUE_EMBED), preloaded by the loader (KLD), or loaded with kexec_load from userspace. */
export type Strategy = 'embed' | 'kld' | 'kexec';
/** Every strategy, in the order reports list them. */
export const STRATEGIES: readonly Strategy[] = ['embed', 'kld', 'kexec'];

/** The rescue_dump_params field naming the kernel's root page table (machine/rescue.h). */

/** Where the preloaded rescue module is named (loader.conf `rescue_kernel_name`). */
export const RESCUE_MODULE_NAME = '/boot/rescue/kernel';

/** What HostSession.boot needs: the machine, the strategy and the rescue kernel, optionally the host kernel, the seed and the memsize. */
export interface SessionOptions {
  readonly profile: MachineProfile;
  readonly strategy: Strategy;
  /** The rescue kernel ELF: embedded (embed), preloaded (kld), or sizing the boot-time reservation (kexec). */
  readonly rescue: Uint8Array;
  readonly rescueName?: string;
  /** The host kernel ELF; default a generated one (hostKernelElf). */
  readonly hostKernel?: Uint8Array;
  readonly seed?: number;
  readonly memsize?: Size;
  readonly exact?: boolean;
  /** UMA pages the host model allocates and marks for dumping (machine/host/model.ts). */
  readonly allocatedPages?: number;
}

/** How and when the rescue kernel got armed. */
export interface Armed {
  readonly phase: HostPhase;
  readonly how: string;
  readonly plan: RescuePlan;
  /** SHA-256 of what was staged, taken when armed; checked before the jump (machine/purgatory.ts). */
  readonly digests: SegmentDigests;
}

/** What a panic did: whether the rescue kernel was entered, the jump, the probe kernel's run and the console. */
export interface PanicOutcome {
  readonly strategy: Strategy;
  readonly phase: HostPhase;
  readonly rescued: boolean;
  /** Why nothing was rescued, when nothing was. */
  readonly reason?: string;
  readonly armedAt?: HostPhase;
  /** The staged segments that changed since arming: the jump was refused (purgatory). */
  readonly changedSegments?: readonly ChangedSegment[];
  readonly jump?: JumpResult;
  readonly probe?: { readonly stop: StopReason; readonly report: ProbeReport | undefined };
  readonly console: readonly string[];
}

/** A booted host on an emulated machine (see the module contract). */
export class HostSession {
  readonly profile: MachineProfile;
  readonly strategy: Strategy;
  readonly machine: Machine;
  readonly model: HostModel;
  readonly timeline = new HostTimeline();
  /** The reservation the planner gives this rescue kernel (known at boot: M_NODUMP for the host model). */
  readonly expected: RescuePlan;
  private armedState: Armed | undefined;
  private lastPanicState: PanicOutcome | undefined;
  private kexecState: KexecState;
  private readonly memsize: Size | undefined;
  private readonly rescueName: string;
  readonly log: string[] = [];

  private constructor(opts: SessionOptions, machine: Machine, model: HostModel, expected: RescuePlan) {
    this.profile = opts.profile;
    this.strategy = opts.strategy;
    this.machine = machine;
    this.model = model;
    this.expected = expected;
    this.memsize = opts.memsize;
    this.rescueName = opts.rescueName ?? 'rescue.elf';
    this.kexecState = {
      abi: 'linux',
      arch: opts.profile.arch,
      userspaceReached: false,
      crashReservation: expected.region,
      physSegs: opts.profile.ram,
      loaded: {},
    };
  }

  /** Boots a fresh machine to the loader phase with the strategy's hooks registered. */
  static boot(opts: SessionOptions): HostSession {
    const profile = opts.profile;
    const seed = opts.seed ?? 1;
    const rescueImage = parseElf(opts.rescue);
    const expected = planRescue({
      kernel: rescueImage,
      kernelName: opts.rescueName ?? 'rescue.elf',
      profile,
      ...(opts.memsize === undefined ? {} : { memsize: opts.memsize }),
    });
    const hostBytes = opts.hostKernel ?? hostKernelElf(profile.arch, seed);
    const kernel = parseElf(opts.strategy === 'embed' ? embedRescue(hostBytes, opts.rescue) : hostBytes);
    const model = buildHostModel(profile, {
      seed,
      kernel,
      ...(opts.allocatedPages === undefined ? {} : { allocatedPages: opts.allocatedPages }),
      noDump: [expected.region], // rescue_kernel_init allocates it M_NODUMP
      ...(opts.strategy === 'kld'
        ? { modules: [{ name: RESCUE_MODULE_NAME, type: RESCUE_KERNEL_MODULE_TYPE, bytes: opts.rescue }] }
        : {}),
    });
    const machine = Machine.create(profile, { exact: opts.exact ?? false });
    try {
      const s = new HostSession(opts, machine, model, expected);
      s.log.push(
        `loader: ${profile.name}, host kernel at ${hex(model.load)}, modulep ${hex(model.handoff.modulepPa)}, strategy ${opts.strategy}`,
      );
      s.timeline.on('kernel-entry', 'loader: kexec-reboot trampoline into the host kernel', () => s.enterHost());
      s.timeline.on('SI_SUB_VM_CONF', 'rescue_kernel_init', () => s.rescueKernelInit());
      return s;
    } catch (e) {
      machine.close();
      throw e;
    }
  }

  get phase(): HostPhase {
    return this.timeline.phase;
  }

  /** The outcome of the last `panic()`, if the host panicked. */
  get lastPanic(): PanicOutcome | undefined {
    return this.lastPanicState;
  }

  /** The armed rescue kernel, if any. */
  get armed(): Armed | undefined {
    return this.armedState;
  }

  /** Moves the host forward to `phase`, running what happens on the way. */
  advanceTo(phase: HostPhase): PhaseStep[] {
    const steps = this.timeline.advanceTo(phase);
    this.kexecState = { ...this.kexecState, userspaceReached: this.timeline.userspace };
    for (const st of steps) this.log.push(`${st.phase}${st.hooks.length > 0 ? `: ${st.hooks.join(', ')}` : ''}`);
    return steps;
  }

  /**
   * kboot as the boot loader: the kernel image, preloaded modules, kenv, DTB and modinfo are
   * staged in free RAM and the loader.kboot-style kexec-reboot trampoline copies them into
   * place and enters the host kernel on the CPU (its entry contract checked); then the host
   * runs on (the model's own early state: page tables, msgbuf, dump_avail, the bitmap).
   */
  private enterHost(): void {
    const m = this.machine;
    const model = this.model;
    const arch = this.profile.arch;
    const info = archInfo(arch);
    const ops = trampolineOps(arch);
    const unit = BigInt(ops.copyUnit);
    const pageUp = (n: bigint): bigint => (n + 0xfffn) & ~0xfffn;
    // one copy per loader placement, page-rounded; the kernel image's segments merged (they may share pages)
    const handoff = new Set(model.handoff.placements);
    const image = model.loaderPlacements.filter((p) => !handoff.has(p));
    const first = image[0]?.phys ?? model.load;
    const imgStart = image.reduce((a, p) => (p.phys < a ? p.phys : a), first) & ~0xfffn;
    const imgEnd = pageUp(
      image.reduce((a, p) => (p.phys + BigInt(p.data.length) > a ? p.phys + BigInt(p.data.length) : a), imgStart),
    );
    const imageBytes = new Uint8Array(Number(imgEnd - imgStart));
    for (const p of image) imageBytes.set(p.data, Number(p.phys - imgStart));
    const items = [
      { label: 'host kernel image', phys: imgStart as PhysAddr, data: imageBytes },
      ...model.handoff.placements,
    ].map((p) => ({ ...p, len: ((pageUp(BigInt(p.data.length)) + unit - 1n) / unit) * unit }));
    // staging buffers and the trampoline: free RAM below 4 GiB, clear of the reservation
    const busy = [this.expected.region, ...items.map((p) => ({ start: p.phys, size: p.len as Size }))];
    const free = subtract(buildMemoryMap(this.profile).free, busy);
    const total = items.reduce((n, p) => n + p.len, 0n) + BigInt(ops.kexecAreaBytes) + 0x1000n;
    const area = findHole(free, {
      size: pageUp(total) as Size,
      align: 0x20_0000n as Size,
      boundary: 0n as Size,
      below: 1n << 32n,
      prefer: 'highest',
    });
    if (area === undefined) {
      throw new MachineError(MachineCode.JumpFailed, 'machine: no free RAM below 4 GiB to stage the host kernel in', {
        total,
      });
    }
    const at = area.start;
    let src = pageUp(at + BigInt(ops.kexecAreaBytes) + 0x1000n);
    const copies = items.map((p) => {
      const c = { label: p.label, src: src as PhysAddr, dst: p.phys, len: p.len as Size };
      src += p.len;
      return c;
    });
    m.place(
      items.map((p, i) => ({ label: `staging buffer for ${p.label}`, phys: copies[i]?.src ?? p.phys, data: p.data })),
    );
    const md = (pa: bigint): bigint => metadataAddress(arch, model.kernbasePa, pa);
    const entryPa = (model.kernbasePa + (model.entry - info.kernbase)) as PhysAddr;
    const tramp = ops.buildKexecReboot({
      at,
      copies,
      kernel: {
        entry: info.kexecEntry === 'virtual' ? model.entry : entryPa,
        modulep: md(model.handoff.modulepPa),
        kernend: md(model.handoff.kernendPa),
        staging: model.kernbasePa,
      },
      ...(model.handoff.dtbPa === undefined ? {} : { fdt: model.handoff.dtbPa }),
    });
    const jump = runJump(m, tramp, { protect: false, gdt: (at + BigInt(ops.kexecAreaBytes)) as PhysAddr });
    if (!jump.reached) {
      throw new MachineError(
        MachineCode.JumpFailed,
        `machine: the loader's trampoline did not reach the host kernel (${jump.stop.kind} at ${hex(jump.stop.pc)})`,
        {
          stop: jump.stop.kind,
        },
      );
    }
    const violations = checkEntryContract(m, {
      kind: 'kexec-reboot',
      entryVa: model.entry,
      entryPa,
      modulep: md(model.handoff.modulepPa),
      kernend: md(model.handoff.kernendPa),
      modulepPa: model.handoff.modulepPa,
      kernelFirstPagePa: (model.kernbasePa + (info.kernstart - info.kernbase)) as PhysAddr,
    });
    if (violations.length > 0) {
      throw new MachineError(
        MachineCode.JumpFailed,
        `machine: the host kernel's entry contract does not hold: ${violations.map((v) => `[${v.item}] ${v.message}`).join('; ')}`,
        { violations },
      );
    }
    this.log.push(
      `loader: ${copies.length} segments copied by the kexec trampoline; host kernel entered at ${hex(jump.stopAt)} after ${jump.stop.executed} instructions`,
    );
    installHost(m, model, { loader: false });
  }

  /** D47358 rescue_kernel_init at SI_SUB_VM_CONF: reserve, and for embed/kld populate. */
  private rescueKernelInit(): void {
    const region = this.expected.region;
    if (this.strategy === 'kexec') {
      this.log.push(
        `rescue_kernel_init: reserved ${hex(region.start)}+${hex(region.size)} for a kexec-loaded rescue kernel`,
      );
      return;
    }
    const found = this.strategy === 'embed' ? this.findEmbedded() : this.findPreloaded();
    const bytes = this.machine.ram.read(found.pa, Number(found.size));
    const plan = planRescue({
      kernel: parseElf(bytes),
      kernelName: this.rescueName,
      profile: this.profile,
      ...(this.memsize === undefined ? {} : { memsize: this.memsize }),
    });
    if (plan.region.start !== region.start || plan.region.size !== region.size) {
      throw new MachineError(
        MachineCode.HostModel,
        `machine: rescue_kernel_init planned ${hex(plan.region.start)}, the host reserved ${hex(region.start)}`,
        {
          planned: plan.region.start,
          reserved: region.start,
        },
      );
    }
    // metadata as rescue_kernel_init writes it; the kernel copied natively from the host's copy
    for (const seg of plan.segments) {
      if (seg.kind === 'kernel') this.machine.ram.copy(seg.phys, found.pa, found.size);
      else if (seg.data.length > 0) this.machine.ram.write(seg.phys, seg.data);
    }
    this.armedState = {
      phase: 'SI_SUB_VM_CONF',
      how: `${found.how} (${hex(found.size)} bytes at ${hex(found.pa)})`,
      plan,
      digests: this.recordStaged(plan),
    };
    this.log.push(`rescue_kernel_init: armed from ${found.how}, reservation ${hex(region.start)}+${hex(region.size)}`);
  }

  private findEmbedded(): { pa: PhysAddr; size: Size; how: string } {
    const start = this.model.kernel.symbols['rescue_start'];
    const end = this.model.kernel.symbols['rescue_end'];
    if (start === undefined || end === undefined) {
      throw new MachineError(
        MachineCode.HostModel,
        'machine: the host kernel has no rescue_start/rescue_end (not built with RESCUE_EMBED)',
        {},
      );
    }
    return { pa: start.pa, size: (end.va - start.va) as Size, how: 'the kernel image (rescue_start..rescue_end)' };
  }

  private findPreloaded(): { pa: PhysAddr; size: Size; how: string } {
    // preload_search_by_type("rescue_kernel") over the metadata in guest RAM
    const modulepPa = this.model.handoff.modulepPa;
    const records = decodeModinfo(this.machine.ram.read(modulepPa, 0x1_0000));
    const mod = groupModules(records).find((m) => m.type === RESCUE_KERNEL_MODULE_TYPE);
    if (mod === undefined) {
      throw new MachineError(
        MachineCode.HostModel,
        `machine: no preloaded module of type ${RESCUE_KERNEL_MODULE_TYPE}`,
        {},
      );
    }
    const pa = metadataToPhys(this.profile.arch, this.model.kernbasePa, mod.addr) as PhysAddr;
    return { pa, size: mod.size as Size, how: `the preloaded module ${mod.name}` };
  }

  /** kexec_load(..., KEXEC_ON_CRASH): the rescue kernel's reservation contents as segments. */
  loadCrash(rescue: Uint8Array, abi: KexecAbi = 'linux'): KexecOutcome {
    const plan = planRescue({
      kernel: parseElf(rescue),
      kernelName: this.rescueName,
      profile: this.profile,
      ...(this.memsize === undefined ? {} : { memsize: this.memsize }),
    });
    const state: KexecState = { ...this.kexecState, abi };
    // the kernel's rules decide whether the segments fit the boot-time reservation
    const request = crashRequestFromPlan(plan, abi);
    const out = kexecLoad(state, request);
    this.kexecState = out.state;
    if (!out.ok) {
      if (this.strategy === 'kexec') this.armedState = undefined;
      this.log.push(`kexec_load: ${out.error.code} (${out.error.message})`);
      return out;
    }
    for (const seg of request.segments) this.machine.ram.write(seg.mem as PhysAddr, seg.buf);
    this.armedState = {
      phase: this.phase,
      how: `kexec_load (${abi} ABI, ${request.segments.length} segments)`,
      plan,
      digests: this.recordStaged(plan, request.segments),
    };
    this.log.push(`kexec_load: crash kernel loaded in ${request.segments.length} segments`);
    return out;
  }

  /**
   * Purgatory at arming time (machine/purgatory.ts): SHA-256 of each plan segment's bytes as
   * placed and, for kexec_load, of each loaded segment (mem, memsz: kexec zero-fills the
   * tail). Left out: the rescue_dump_params at the reservation start and the amd64 bootstrap
   * page-table pool, which the host writes at panic (rescue_dump_params_init,
   * rescue_kernel_exec), as kexec leaves the purgatory and a hotplug elfcorehdr out.
   */
  private recordStaged(plan: RescuePlan, loaded: KexecRequest['segments'] = []): SegmentDigests {
    const dump = this.profile.arch === 'amd64' ? AMD64_RESCUE_DUMP_PARAMS_SIZE : ARM64_RESCUE_DUMP_PARAMS_SIZE;
    const span = (s: RescuePlan['segments'][number]): PhysRange => ({
      start: s.phys,
      size: (s.memSize > BigInt(s.data.length) ? s.memSize : BigInt(s.data.length)) as Size,
    });
    const exclude = [
      { start: plan.region.start, size: BigInt(dump) as Size },
      ...plan.segments.filter((s) => s.kind === 'page-tables').map(span),
    ];
    const segments = [
      ...plan.segments
        .filter((s) => s.data.length > 0)
        .map((s) => ({
          label: s.label,
          range: { start: s.phys, size: BigInt(s.data.length) as Size },
          staged: s.data,
        })),
      ...loaded.map((seg, i) => {
        const range = { start: seg.mem as PhysAddr, size: seg.memsz as Size };
        const inside = plan.segments.filter((s) => overlaps(range, span(s))).map((s) => s.label);
        return { label: `kexec segment ${i} (${inside.join(', ')})`, range, staged: seg.buf };
      }),
    ];
    return recordSegments(this.machine.ram, segments, { exclude });
  }

  /**
   * kexec_load of a normal image (loader.kboot staging: kernel, kenv, DTB, modinfo as
   * segments), for a later `kboot exec`-style reboot; the same rules apply (userspace only).
   */
  loadNormal(kernelBytes: Uint8Array, name: string, abi: KexecAbi = 'linux'): KexecOutcome {
    const plan = planKexecBoot({ kernel: parseElf(kernelBytes), kernelName: name, profile: this.profile });
    const request = {
      entry: plan.entryPa as bigint,
      flags: abi === 'linux' ? LINUX_KEXEC_ARCH[this.profile.arch] : 0n,
      segments: plan.segments.map((seg) => ({
        buf: seg.data,
        bufsz: BigInt(seg.data.length),
        mem: seg.phys as bigint,
        memsz: seg.memSize as bigint,
      })),
    };
    const out = kexecLoad({ ...this.kexecState, abi }, request);
    this.kexecState = out.state;
    this.log.push(
      out.ok
        ? `kexec_load: normal image ${name} loaded (${request.segments.length} segments)`
        : `kexec_load: ${out.error.code}`,
    );
    return out;
  }

  /** True when a normal kexec image is loaded. */
  get normalLoaded(): boolean {
    return this.kexecState.loaded.normal !== undefined;
  }

  /** kexec_load with no segments: the crash kernel is unloaded (the rules still apply: userspace only). */
  unloadCrash(): KexecOutcome {
    const out = kexecUnload(this.kexecState, 'crash');
    this.kexecState = out.state;
    if (out.ok && this.strategy === 'kexec') this.armedState = undefined;
    this.log.push(out.ok ? 'kexec_load: crash kernel unloaded' : `kexec_load (unload): ${out.error.code}`);
    return out;
  }

  /** sha256 of the reservation's first `bytes` (params ... kernel). */
  reservationSha256(): string {
    const region: PhysRange = this.expected.region;
    return this.machine.ram.sha256(region.start, region.size);
  }

  /** The host panics: with a rescue kernel armed, rescue_kernel_exec hands off on the CPU. */
  panic(opts: { readonly protect?: boolean; readonly runProbe?: boolean } = {}): PanicOutcome {
    const base = { strategy: this.strategy, phase: this.phase };
    const armed = this.armedState;
    if (armed === undefined) {
      const reason = this.timeline.reached('SI_SUB_VM_CONF')
        ? this.strategy === 'kexec'
          ? this.timeline.userspace
            ? 'no crash kernel loaded (kboot load --crash)'
            : 'no crash kernel loaded: kexec_load runs only from userspace'
          : 'rescue_kernel_init did not arm a rescue kernel'
        : 'the panic came before SI_SUB_VM_CONF: nothing is armed yet';
      this.log.push(`panic at ${this.phase}: not rescued (${reason})`);
      this.lastPanicState = { ...base, rescued: false, reason, console: [] };
      return this.lastPanicState;
    }
    const plan = armed.plan;
    this.fillDumpParams(plan);
    // purgatory: what was staged must hash as it did when armed, or rescue_kernel_exec does not run
    const check = verifySegments(this.machine.ram, armed.digests);
    if (!check.ok) {
      const reason = refusalReason(check.changed);
      this.log.push(`panic at ${this.phase}: not rescued (${reason})`);
      this.lastPanicState = {
        ...base,
        rescued: false,
        reason,
        armedAt: armed.phase,
        changedSegments: check.changed,
        console: [],
      };
      return this.lastPanicState;
    }
    const tramp = trampolineOps(this.profile.arch).buildRescueExec({ plan, host: this.model.state });
    const jump = runJump(this.machine, tramp, { gdt: this.model.gdt, protect: opts.protect ?? true });
    this.log.push(
      `panic at ${this.phase}: rescue_kernel_exec -> ${jump.stop.kind} at ${hex(jump.stop.pc)} after ${jump.stop.executed} instructions`,
    );
    let probe: PanicOutcome['probe'];
    const rescueImage = parseElf(this.machine.ram.read(plan.relocation.kernelPhys, Number(plan.sizing.kernelFile)));
    if (jump.reached && (opts.runProbe ?? true) && isProbeKernel(rescueImage)) {
      unprotectAll(this.machine);
      const stop = this.machine.cpu.run({ maxInstructions: 10_000_000, timeoutMs: 30_000 });
      let report: ProbeReport | undefined;
      try {
        report = decodeProbeReport(
          this.machine.ram.read(plan.relocation.toPhys(probeReportVa(this.profile.arch)), ProbeReportLayout.size),
        );
      } catch {
        report = undefined;
      }
      probe = { stop, report };
    }
    this.machine.cpu.takeConsole();
    this.lastPanicState = {
      ...base,
      rescued: jump.reached,
      armedAt: armed.phase,
      jump,
      ...(probe === undefined ? {} : { probe }),
      console: this.machine.cpu.console.lines,
    };
    return this.lastPanicState;
  }

  /** rescue_dump_params_init: the host's dump facts into the params at the reservation start. */
  private fillDumpParams(plan: RescuePlan): void {
    const arch: Arch = this.profile.arch;
    const at = plan.region.start;
    const current = decodeRescueParams(arch, this.machine.ram.read(at, 256));
    this.machine.ram.write(
      at,
      encodeRescueParams(arch, { ...current, ...rescueDumpFields(arch, dumpParams(this.model)) }),
    );
  }

  /** sha256 of every device table (GICv3 LPI/ITS) — they must survive the hand-off unchanged. */
  deviceTablesSha256(): string {
    const h = createHash('sha256');
    for (const t of this.model.deviceTables) h.update(this.machine.ram.read(t.range.start, Number(t.range.size)));
    return h.digest('hex');
  }

  close(): void {
    this.machine.close();
  }
}
