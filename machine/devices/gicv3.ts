/**
 * The emulated arm64 machine's GICv3: the distributor (GICD), one redistributor (GICR: RD_base
 * and SGI_base 64 KiB frames) per CPU and every ITS (GITS control frame and translater frame),
 * as MMIO the CPU reaches at their physical addresses (native/cpu_engine.cc calls `read` /
 * `write` synchronously from the guest's loads and stores).
 *
 * Contract:
 *  - Registers modelled (offsets and fields: FreeBSD sys/arm64/arm64/gic_v3_reg.h; behaviour:
 *    Arm IHI 0069 as FreeBSD's gicv3_its.c relies on it): GICD_CTLR, GICD_TYPER, GICD_IIDR,
 *    GICD_PIDR2; GICR_CTLR (EnableLPIs, once set, cannot be cleared: the implementation choice
 *    that makes LPI tables live for ever, §7 of shared/spec/freebsd-handoff.md), GICR_IIDR,
 *    GICR_TYPER (PLPIS, Processor_Number, Last, affinity), GICR_WAKER, GICR_PROPBASER,
 *    GICR_PENDBASER (writes while EnableLPIs is set are ignored: UNPREDICTABLE in the
 *    architecture), GICR_PIDR2; GITS_CTLR (Enabled; Quiescent reads 1), GITS_IIDR, GITS_TYPER,
 *    GITS_CBASER, GITS_CWRITER, GITS_CREADR (the ITS consumes every command at once: CREADR
 *    follows CWRITER while enabled), GITS_BASER0 (device table) and GITS_BASER1 (collection
 *    table; the other six read as type Unimplemented), GITS_PIDR2, GITS_TRANSLATER (write-only).
 *  - A 64-bit register may be accessed as two 32-bit halves; any other size, or an offset no
 *    register covers, is an unimplemented access. Every such access, and every write the model
 *    ignores, is recorded in `events`; an unimplemented read also throws MachineError
 *    DEVICE_REGISTER (the run stops: never a silent zero) unless `strict: false`.
 *  - `liveLpiTables()` is what the registers say is live (EnableLPIs set and a valid base).
 *  - `snapshot()` / `restore()` copy the register state (a machine's fork).
 */
import { hex } from '../../loader/addr.js';
import type { MachineProfile } from '../../loader/plan/profile.js';
import { MachineCode, MachineError } from '../errors.js';

/** A 64 KiB GIC frame. */
export const GIC_FRAME = 0x10000n;
/** A GICv3 redistributor: RD_base + SGI_base (no VLPI frames). */
export const GICR_STRIDE = 2n * GIC_FRAME;
/** An ITS: control frame + translater frame. */
export const GITS_SIZE = 2n * GIC_FRAME;

/** Register offsets (FreeBSD sys/arm64/arm64/gic_v3_reg.h). */
export const GIC_REG = {
  GICD_CTLR: 0x0000n,
  GICD_TYPER: 0x0004n,
  GICD_IIDR: 0x0008n,
  PIDR2: 0xffe8n,
  GICR_CTLR: 0x0000n,
  GICR_IIDR: 0x0004n,
  GICR_TYPER: 0x0008n,
  GICR_WAKER: 0x0014n,
  GICR_PROPBASER: 0x0070n,
  GICR_PENDBASER: 0x0078n,
  GITS_CTLR: 0x0000n,
  GITS_IIDR: 0x0004n,
  GITS_TYPER: 0x0008n,
  GITS_CBASER: 0x0080n,
  GITS_CWRITER: 0x0088n,
  GITS_CREADR: 0x0090n,
  GITS_BASER0: 0x0100n,
  GITS_TRANSLATER: 0x10040n,
} as const;

/** Register bits (gic_v3_reg.h; Arm IHI 0069 for the PA fields). */
export const GIC_BITS = {
  GICR_CTLR_LPI_ENABLE: 1n,
  GICR_TYPER_PLPIS: 1n,
  GICR_TYPER_LAST: 1n << 4n,
  GITS_CTLR_EN: 1n,
  GITS_CTLR_QUIESCENT: 1n << 31n,
  VALID: 1n << 63n,
  /** PROPBASER Physical_Address [51:12]. */
  PROPBASER_PA_MASK: ((1n << 52n) - 1n) & ~0xfffn,
  /** PENDBASER Physical_Address [51:16]. */
  PENDBASER_PA_MASK: ((1n << 52n) - 1n) & ~0xffffn,
  /** GITS_BASER / GITS_CBASER Physical_Address [47:12]. */
  BASER_PA_MASK: 0xfffffffffn << 12n,
  BASER_TYPE_DEV: 1n,
  BASER_TYPE_IC: 4n,
  SHARE_IS: 1n << 10n,
} as const;

/** ARM's GIC-500 IIDR (implementer 0x43B, product 0: gic_v3_reg.h GITS_IIDR_IMPL_ARM). */
const IIDR_ARM = 0x43bn;
/** PIDR2: ArchRev 3 (GICv3) in [7:4], JEP106 bits 0xb. */
const PIDR2_GICV3 = 0x3bn;
const U64 = (1n << 64n) - 1n;
/** Runs a register's store; it was accepted. */
const set = (f: () => unknown): true => {
  f();
  return true;
};

export type GicFrame = 'gicd' | `gicr${number}` | `gits${number}`;
export interface GicEvent {
  readonly kind: 'unimplemented-read' | 'unimplemented-write' | 'ignored-write' | 'translate';
  readonly frame: GicFrame;
  readonly offset: bigint;
  readonly pa: bigint;
  readonly size: number;
  readonly value?: bigint;
  readonly why: string;
}

interface RedistState {
  ctlr: bigint;
  waker: bigint;
  propbaser: bigint;
  pendbaser: bigint;
}
interface ItsState {
  ctlr: bigint;
  cbaser: bigint;
  cwriter: bigint;
  creadr: bigint;
  /** GITS_BASER0 and GITS_BASER1: the only two that can hold a value. */
  baser: bigint[];
}
/** The register state (a fork copies it). */
export interface GicState {
  readonly gicdCtlr: bigint;
  readonly redist: readonly Readonly<RedistState>[];
  readonly its: readonly Readonly<ItsState>[];
}

/** A table the registers say the GIC owns now. */
export interface LiveLpiTable {
  readonly kind: 'lpi-conf' | 'lpi-pend';
  readonly cpu: number;
  readonly pa: bigint;
  readonly register: 'GICR_PROPBASER' | 'GICR_PENDBASER';
}

interface Reg {
  readonly width: 4 | 8;
  read(): bigint;
  /** Applies a write; false when the GIC kept (part of) the old value instead. */
  write?(v: bigint): boolean;
}

export interface Gicv3Layout {
  readonly distributor: bigint;
  readonly redistributors: readonly { readonly start: bigint; readonly size: bigint }[];
  readonly its: readonly bigint[];
  readonly cpus: number;
}

/** The PA of redistributor `cpu`'s RD_base frame (frames are numbered across the ranges in order). */
export function redistributorBase(layout: Gicv3Layout, cpu: number): bigint | undefined {
  let first = 0;
  for (const r of layout.redistributors) {
    const n = Number(r.size / GICR_STRIDE);
    if (cpu < first + n) return r.start + BigInt(cpu - first) * GICR_STRIDE;
    first += n;
  }
  return undefined;
}

/** The GICv3 of a profile (undefined for a GICv2 or no GIC). */
export function gicv3Layout(profile: MachineProfile): Gicv3Layout | undefined {
  const g = profile.gic;
  if (g === undefined || g.version !== 'v3') return undefined;
  return {
    distributor: g.distributor,
    redistributors: g.redistributors.map((r) => ({ start: r.start, size: r.size })),
    its: g.its,
    cpus: profile.cpus,
  };
}

export class Gicv3 {
  readonly layout: Gicv3Layout;
  readonly events: GicEvent[] = [];
  private readonly strict: boolean;
  private gicdCtlr = 0n;
  private redist: RedistState[];
  private itsState: ItsState[];

  constructor(layout: Gicv3Layout, opts: { readonly strict?: boolean } = {}) {
    this.layout = layout;
    this.strict = opts.strict ?? true;
    this.redist = Array.from({ length: layout.cpus }, () => ({ ctlr: 0n, waker: 6n, propbaser: 0n, pendbaser: 0n }));
    this.itsState = layout.its.map(() => ({
      ctlr: 0n,
      cbaser: 0n,
      cwriter: 0n,
      creadr: 0n,
      baser: [0n, 0n],
    }));
  }

  /** The MMIO ranges the CPU maps for this GIC (page-aligned, at their PAs). */
  ranges(): { base: bigint; size: bigint }[] {
    return [
      { base: this.layout.distributor, size: GIC_FRAME },
      ...this.layout.redistributors.map((r) => ({ base: r.start, size: r.size })),
      ...this.layout.its.map((base) => ({ base, size: GITS_SIZE })),
    ];
  }

  /** Which frame and offset a PA falls in. */
  private locate(pa: bigint): { frame: GicFrame; offset: bigint; regs: (o: bigint) => Reg | undefined } | undefined {
    const d = this.layout.distributor;
    if (pa >= d && pa < d + GIC_FRAME) return { frame: 'gicd', offset: pa - d, regs: (o) => this.gicdReg(o) };
    let cpu = 0;
    for (const r of this.layout.redistributors) {
      if (pa >= r.start && pa < r.start + r.size) {
        const idx = cpu + Number((pa - r.start) / GICR_STRIDE);
        if (idx >= this.layout.cpus) return undefined;
        return { frame: `gicr${idx}`, offset: (pa - r.start) % GICR_STRIDE, regs: (o) => this.gicrReg(idx, o) };
      }
      cpu += Number(r.size / GICR_STRIDE);
    }
    const i = this.layout.its.findIndex((b) => pa >= b && pa < b + GITS_SIZE);
    if (i < 0) return undefined;
    const base = this.layout.its[i] ?? 0n;
    return { frame: `gits${i}`, offset: pa - base, regs: (o) => this.gitsReg(i, o) };
  }

  private gicdReg(o: bigint): Reg | undefined {
    switch (o) {
      case GIC_REG.GICD_CTLR:
        return { width: 4, read: () => this.gicdCtlr, write: (v) => set(() => (this.gicdCtlr = v & 0x37n)) };
      case GIC_REG.GICD_TYPER:
        // ITLinesNumber 7 (256 INTIDs), LPIS (bit 17), IDbits 15 (16 bits of INTID).
        return { width: 4, read: () => 7n | (1n << 17n) | (15n << 19n) };
      case GIC_REG.GICD_IIDR:
        return { width: 4, read: () => IIDR_ARM };
      case GIC_REG.PIDR2:
        return { width: 4, read: () => PIDR2_GICV3 };
      default:
        return undefined;
    }
  }

  private gicrReg(cpu: number, o: bigint): Reg | undefined {
    const s = this.redist[cpu];
    if (s === undefined) return undefined;
    const lpis = (): boolean => (s.ctlr & GIC_BITS.GICR_CTLR_LPI_ENABLE) !== 0n;
    switch (o) {
      case GIC_REG.GICR_CTLR:
        // EnableLPIs is sticky: a write can set it, never clear it.
        return {
          width: 4,
          read: () => s.ctlr,
          write: (v) => {
            const was = s.ctlr;
            s.ctlr = (v & GIC_BITS.GICR_CTLR_LPI_ENABLE) | was;
            return s.ctlr === (v & GIC_BITS.GICR_CTLR_LPI_ENABLE);
          },
        };
      case GIC_REG.GICR_IIDR:
        return { width: 4, read: () => IIDR_ARM };
      case GIC_REG.GICR_TYPER:
        return { width: 8, read: () => this.gicrTyper(cpu) };
      case GIC_REG.GICR_WAKER:
        // ChildrenAsleep (bit 2) follows ProcessorSleep (bit 1) at once.
        return { width: 4, read: () => s.waker, write: (v) => set(() => (s.waker = (v & 2n) === 0n ? 0n : 6n)) };
      case GIC_REG.GICR_PROPBASER:
        return { width: 8, read: () => s.propbaser, write: (v) => !lpis() && set(() => (s.propbaser = v)) };
      case GIC_REG.GICR_PENDBASER:
        return { width: 8, read: () => s.pendbaser, write: (v) => !lpis() && set(() => (s.pendbaser = v)) };
      case GIC_REG.PIDR2:
        return { width: 4, read: () => PIDR2_GICV3 };
      default:
        return undefined;
    }
  }

  private gicrTyper(cpu: number): bigint {
    const last = cpu === this.layout.cpus - 1 ? GIC_BITS.GICR_TYPER_LAST : 0n;
    return (BigInt(cpu) << 32n) | (BigInt(cpu) << 8n) | last | GIC_BITS.GICR_TYPER_PLPIS;
  }

  private gitsReg(i: number, o: bigint): Reg | undefined {
    const s = this.itsState[i];
    if (s === undefined) return undefined;
    const enabled = (): boolean => (s.ctlr & GIC_BITS.GITS_CTLR_EN) !== 0n;
    if (o >= GIC_REG.GITS_BASER0 && o < GIC_REG.GITS_BASER0 + 64n && o % 8n === 0n) {
      const n = Number((o - GIC_REG.GITS_BASER0) / 8n);
      return {
        width: 8,
        read: () => this.baserRead(s, n),
        write: (v) => !enabled() && set(() => this.baserWrite(s, n, v)),
      };
    }
    switch (o) {
      case GIC_REG.GITS_CTLR:
        return {
          width: 4,
          read: () => s.ctlr | (enabled() ? 0n : GIC_BITS.GITS_CTLR_QUIESCENT),
          write: (v) =>
            set(() => {
              s.ctlr = v & GIC_BITS.GITS_CTLR_EN;
              this.consume(s);
            }),
        };
      case GIC_REG.GITS_IIDR:
        return { width: 4, read: () => IIDR_ARM };
      case GIC_REG.GITS_TYPER:
        // Physical (bit 0), ITT_entry_size 8 (7 in [7:4]), IDbits 15, Devbits 15; PTA 0.
        return { width: 8, read: () => 1n | (7n << 4n) | (15n << 8n) | (15n << 13n) };
      case GIC_REG.GITS_CBASER:
        return { width: 8, read: () => s.cbaser, write: (v) => !enabled() && set(() => this.cbaserWrite(s, v)) };
      case GIC_REG.GITS_CWRITER:
        return { width: 8, read: () => s.cwriter, write: (v) => set(() => this.cwriterWrite(s, v)) };
      case GIC_REG.GITS_CREADR:
        return { width: 8, read: () => s.creadr };
      case GIC_REG.PIDR2:
        return { width: 4, read: () => PIDR2_GICV3 };
      default:
        return undefined;
    }
  }

  private baserRead(s: ItsState, n: number): bigint {
    const type = n === 0 ? GIC_BITS.BASER_TYPE_DEV : n === 1 ? GIC_BITS.BASER_TYPE_IC : 0n;
    if (type === 0n) return 0n;
    // Type [58:56] and Entry_Size [52:48] (8 bytes: 7) are read-only.
    return (s.baser[n] ?? 0n) | (type << 56n) | (7n << 48n);
  }

  private baserWrite(s: ItsState, n: number, v: bigint): void {
    if (n > 1) return;
    // Indirect (bit 62) is RAZ/WI: this ITS has flat tables only.
    const ro = (7n << 56n) | (0x1fn << 48n) | (1n << 62n);
    s.baser[n] = v & ~ro & U64;
  }

  private cbaserWrite(s: ItsState, v: bigint): void {
    s.cbaser = v;
    s.cwriter = 0n;
    s.creadr = 0n;
  }

  private cwriterWrite(s: ItsState, v: bigint): void {
    s.cwriter = v & 0xfffe0n;
    this.consume(s);
  }

  /** An enabled ITS with a valid command queue consumes every queued command at once. */
  private consume(s: ItsState): void {
    if ((s.ctlr & GIC_BITS.GITS_CTLR_EN) !== 0n && (s.cbaser & GIC_BITS.VALID) !== 0n) s.creadr = s.cwriter;
  }

  /** A guest load of `size` bytes at `pa` (the CPU's MMIO callback). */
  read(pa: bigint, size: number): bigint {
    const at = this.locate(pa);
    const hit = this.resolve(at, size);
    if (hit === undefined) {
      const frame: GicFrame = at?.frame ?? 'gicd';
      const ev: GicEvent = {
        kind: 'unimplemented-read',
        frame,
        offset: at?.offset ?? 0n,
        pa,
        size,
        why: 'no register',
      };
      this.events.push(ev);
      if (this.strict) {
        throw new MachineError(
          MachineCode.DeviceRegister,
          `machine: read of an unimplemented GICv3 register (${frame} offset ${hex(ev.offset)}, PA ${hex(pa)}, ${size} bytes)`,
          { frame, offset: ev.offset, pa, size },
        );
      }
      return 0n;
    }
    const whole = hit.reg.read();
    return hit.shift === undefined ? whole : (whole >> hit.shift) & 0xffffffffn;
  }

  /** A guest store of `size` bytes of `value` at `pa` (the CPU's MMIO callback). */
  write(pa: bigint, size: number, value: bigint): void {
    const at = this.locate(pa);
    if (at !== undefined && at.frame.startsWith('gits') && at.offset === GIC_REG.GITS_TRANSLATER && size === 4) {
      this.events.push({ kind: 'translate', frame: at.frame, offset: at.offset, pa, size, value, why: 'MSI write' });
      return;
    }
    const hit = this.resolve(at, size);
    if (hit?.reg.write === undefined) {
      this.events.push({
        kind: 'unimplemented-write',
        frame: at?.frame ?? 'gicd',
        offset: at?.offset ?? 0n,
        pa,
        size,
        value,
        why: hit === undefined ? 'no register' : 'read-only register',
      });
      return;
    }
    const old = hit.reg.read();
    const next =
      hit.shift === undefined ? value : (old & ~(0xffffffffn << hit.shift)) | ((value & 0xffffffffn) << hit.shift);
    if (!hit.reg.write(next) && at !== undefined) {
      this.events.push({
        kind: 'ignored-write',
        frame: at.frame,
        offset: at.offset,
        pa,
        size,
        value,
        why: 'kept by the GIC',
      });
    }
  }

  /** The register (and 32-bit half) an access of `size` bytes at the located `at` reaches. */
  private resolve(at: ReturnType<Gicv3['locate']>, size: number): { reg: Reg; shift: bigint | undefined } | undefined {
    if (at === undefined) return undefined;
    const exact = at.regs(at.offset);
    if (exact !== undefined) {
      if (size === exact.width) return { reg: exact, shift: undefined };
      if (exact.width === 8 && size === 4) return { reg: exact, shift: 0n };
      return undefined;
    }
    const low = at.offset % 8n === 4n && size === 4 ? at.regs(at.offset - 4n) : undefined;
    return low?.width === 8 ? { reg: low, shift: 32n } : undefined;
  }

  /** The LPI tables the redistributors own now (EnableLPIs set and a non-zero base). */
  liveLpiTables(): LiveLpiTable[] {
    const out: LiveLpiTable[] = [];
    this.redist.forEach((s, cpu) => {
      if ((s.ctlr & GIC_BITS.GICR_CTLR_LPI_ENABLE) === 0n) return;
      const conf = s.propbaser & GIC_BITS.PROPBASER_PA_MASK;
      if (cpu === 0 && conf !== 0n) out.push({ kind: 'lpi-conf', cpu, pa: conf, register: 'GICR_PROPBASER' });
      const pend = s.pendbaser & GIC_BITS.PENDBASER_PA_MASK;
      if (pend !== 0n) out.push({ kind: 'lpi-pend', cpu, pa: pend, register: 'GICR_PENDBASER' });
    });
    return out;
  }

  /** The ITS tables the ITSes own now (enabled, valid GITS_BASERn / GITS_CBASER). */
  liveItsTables(): { readonly its: number; readonly kind: 'device' | 'collection' | 'cmdq'; readonly pa: bigint }[] {
    const out: { its: number; kind: 'device' | 'collection' | 'cmdq'; pa: bigint }[] = [];
    this.itsState.forEach((s, its) => {
      if ((s.ctlr & GIC_BITS.GITS_CTLR_EN) === 0n) return;
      s.baser.forEach((b, n) => {
        if ((b & GIC_BITS.VALID) !== 0n)
          out.push({ its, kind: n === 0 ? 'device' : 'collection', pa: b & GIC_BITS.BASER_PA_MASK });
      });
      if ((s.cbaser & GIC_BITS.VALID) !== 0n) out.push({ its, kind: 'cmdq', pa: s.cbaser & GIC_BITS.BASER_PA_MASK });
    });
    return out;
  }

  snapshot(): GicState {
    return {
      gicdCtlr: this.gicdCtlr,
      redist: this.redist.map((r) => ({ ...r })),
      its: this.itsState.map((s) => ({ ...s, baser: [...s.baser] })),
    };
  }

  restore(state: GicState): void {
    this.gicdCtlr = state.gicdCtlr;
    this.redist = state.redist.map((r) => ({ ...r }));
    this.itsState = state.its.map((s) => ({ ...s, baser: [...s.baser] }));
  }
}
