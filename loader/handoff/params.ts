/**
 * `struct rescue_kernel_params` (with its leading `struct rescue_dump_params`): the only
 * binary interface between a panicking host and the rescue kernel, at offset 0 of the
 * reservation. Spec: shared/spec/freebsd-handoff.md §8.3, §10.
 *
 * Contract: layouts as in machine/rescue.h (markjdb/freebsd @bd74b35,
 * sys/amd64/include/rescue.h and sys/arm64/include/rescue.h). Every field is 8 bytes
 * (vm_paddr_t, vm_size_t, vm_offset_t on LP64) except `int kp_boothowto`, which is followed
 * by 4 bytes of tail padding. The two arches differ in their dump fields (amd64
 * dp_kernpml4pa; arm64 dp_kernl0pa and dp_dmapbasepa) and in their kernel fields (arm64 has
 * kp_dtbstart/kp_dtblen and no SMAP; the order differs), so the sizes are 88/160 (amd64)
 * and 96/168 (arm64). Field names are the C names in camelCase. All *start/*addr fields
 * hold physical addresses (rescue_pa + off). kpBoothowto is a signed C int.
 * encodeRescueParams fills fields it is not given with 0 (the reservation is M_ZERO) and
 * refuses unknown ones; decodeRescueParams throws only HandoffError.
 */
import type { Arch } from '../arch/index.js';
import { defineLayout, pad, u32, u64, type Field, type Layout, type LayoutValues } from '../bytes/index.js';
import { checkIntRange, checkUnsigned, encodeStructInto, truncated } from './common.js';
import { HandoffCode, HandoffError } from './errors.js';

const AMD64_DUMP_FIELDS = [
  u64('dpMsgbufpa', { at: 0 }),
  u64('dpMsgbufsz', { at: 8 }),
  u64('dpVmdumppa', { at: 16 }),
  u64('dpVmdumpsz', { at: 24 }),
  u64('dpDumpavailpa', { at: 32 }),
  u64('dpKernpml4pa', { at: 40 }),
  u64('dpKernstart', { at: 48 }),
  u64('dpKernend', { at: 56 }),
  u64('dpKernmax', { at: 64 }),
  u64('dpDmapmin', { at: 72 }),
  u64('dpDmapmax', { at: 80 }),
] as const;

const ARM64_DUMP_FIELDS = [
  u64('dpMsgbufpa', { at: 0 }),
  u64('dpMsgbufsz', { at: 8 }),
  u64('dpVmdumppa', { at: 16 }),
  u64('dpVmdumpsz', { at: 24 }),
  u64('dpDumpavailpa', { at: 32 }),
  u64('dpKernl0pa', { at: 40 }),
  u64('dpKernstart', { at: 48 }),
  u64('dpKernend', { at: 56 }),
  u64('dpKernmax', { at: 64 }),
  u64('dpDmapbasepa', { at: 72 }),
  u64('dpDmapmin', { at: 80 }),
  u64('dpDmapmax', { at: 88 }),
] as const;

/** amd64 `struct rescue_dump_params` (filled by the host at panic time). */
export const Amd64RescueDumpParams = defineLayout('amd64.rescue_dump_params', AMD64_DUMP_FIELDS, { size: 88 });

/** amd64 `struct rescue_kernel_params`. */
export const Amd64RescueKernelParams = defineLayout(
  'amd64.rescue_kernel_params',
  [
    ...AMD64_DUMP_FIELDS,
    u64('kpEfimapstart', { at: 88 }),
    u64('kpEfimaplen', { at: 96 }),
    u64('kpSmapstart', { at: 104 }),
    u64('kpSmaplen', { at: 112 }),
    u64('kpKenvstart', { at: 120 }),
    u64('kpKenvlen', { at: 128 }),
    u64('kpKernstart', { at: 136 }),
    u64('kpEfifbaddr', { at: 144 }),
    u32('kpBoothowto', { at: 152 }),
    pad(4, { at: 156 }),
  ],
  { size: 160 },
);

/** arm64 `struct rescue_dump_params`. */
export const Arm64RescueDumpParams = defineLayout('arm64.rescue_dump_params', ARM64_DUMP_FIELDS, { size: 96 });

/** arm64 `struct rescue_kernel_params`. */
export const Arm64RescueKernelParams = defineLayout(
  'arm64.rescue_kernel_params',
  [
    ...ARM64_DUMP_FIELDS,
    u64('kpDtbstart', { at: 96 }),
    u64('kpDtblen', { at: 104 }),
    u64('kpEfimapstart', { at: 112 }),
    u64('kpEfimaplen', { at: 120 }),
    u64('kpEfifbaddr', { at: 128 }),
    u64('kpKenvstart', { at: 136 }),
    u64('kpKenvlen', { at: 144 }),
    u64('kpKernstart', { at: 152 }),
    u32('kpBoothowto', { at: 160 }),
    pad(4, { at: 164 }),
  ],
  { size: 168 },
);

/** sizeof(struct rescue_dump_params) on amd64. */
export const AMD64_RESCUE_DUMP_PARAMS_SIZE = Amd64RescueDumpParams.size;
/** sizeof(struct rescue_kernel_params) on amd64. */
export const AMD64_RESCUE_KERNEL_PARAMS_SIZE = Amd64RescueKernelParams.size;
/** sizeof(struct rescue_dump_params) on arm64. */
export const ARM64_RESCUE_DUMP_PARAMS_SIZE = Arm64RescueDumpParams.size;
/** sizeof(struct rescue_kernel_params) on arm64. */
export const ARM64_RESCUE_KERNEL_PARAMS_SIZE = Arm64RescueKernelParams.size;

const PARAMS_LAYOUT = { amd64: Amd64RescueKernelParams, arm64: Arm64RescueKernelParams } as const;

/** The rescue_kernel_params layout of an arch. */
export type RescueParamsLayout<A extends Arch> = (typeof PARAMS_LAYOUT)[A];
/** Decoded rescue_kernel_params of an arch (kpBoothowto signed). */
export type RescueKernelParams<A extends Arch> = LayoutValues<RescueParamsLayout<A>['fields']>;
/** amd64 rescue_kernel_params values. */
export type Amd64RescueKernelParamsValues = RescueKernelParams<'amd64'>;
/** arm64 rescue_kernel_params values. */
export type Arm64RescueKernelParamsValues = RescueKernelParams<'arm64'>;

/** The arch's rescue_kernel_params layout (offsets for code that reads the params in guest memory). */
export function rescueParamsLayout<A extends Arch>(arch: A): RescueParamsLayout<A> {
  return PARAMS_LAYOUT[arch];
}

/**
 * Where rescue_kernel_init starts the firmware map: `roundup2(sizeof(*params), sizeof(void *))`
 * (160 on amd64, 168 on arm64; both already multiples of 8).
 */
export function rescueParamsSpace(arch: Arch): number {
  return Math.ceil(PARAMS_LAYOUT[arch].size / 8) * 8;
}

type GenericValues = Record<string, bigint | number>;
type AnyFields = readonly Field<string, unknown>[];

/**
 * Encodes the arch's rescue_kernel_params (unset fields 0). Throws
 * HANDOFF_PARAMS_UNKNOWN_FIELD for a field the arch does not have and HANDOFF_VALUE_RANGE
 * for a value outside u64 (or, for kpBoothowto, outside C int).
 */
export function encodeRescueParams<A extends Arch>(arch: A, values: Partial<RescueKernelParams<A>>): Uint8Array {
  const layout = PARAMS_LAYOUT[arch];
  const given = values as Readonly<Record<string, unknown>>;
  const known = new Set(Object.keys(layout.offsets));
  const unknown = Object.keys(given).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new HandoffError(
      HandoffCode.ParamsUnknownField,
      `handoff: ${layout.name} has no such field (${unknown.map((k) => JSON.stringify(k)).join(', ')})`,
      { layout: layout.name, fields: unknown },
    );
  }
  const full: GenericValues = {};
  for (const f of layout.fields) {
    if (f.kind === 'pad') continue;
    const v = given[f.name];
    const what = `${layout.name}.${f.name}`;
    if (f.kind === 'u64') {
      full[f.name] = v === undefined ? 0n : checkUnsigned(v as bigint, 64, what);
    } else {
      // kp_boothowto: C int, stored as its two's-complement u32
      full[f.name] = v === undefined ? 0 : checkIntRange(v as number, -0x8000_0000, 0x7fff_ffff, what) >>> 0;
    }
  }
  const out = new Uint8Array(layout.size);
  // every value was checked above; `never` because `layout` is a union of the two arches' layouts
  encodeStructInto<AnyFields>(layout as Layout<AnyFields>, out, 0, full as never);
  return out;
}

/** Decodes the arch's rescue_kernel_params at `offset` (default 0). Throws HANDOFF_TRUNCATED when short. */
export function decodeRescueParams<A extends Arch>(arch: A, bytes: Uint8Array, offset = 0): RescueKernelParams<A> {
  const layout = PARAMS_LAYOUT[arch];
  const raw = layout.decode(bytes, offset, truncated) as Readonly<GenericValues>;
  const howto = Number(raw['kpBoothowto'] ?? 0) | 0; // u32 bits back to a C int
  return { ...raw, kpBoothowto: howto } as unknown as RescueKernelParams<A>;
}

/**
 * `struct rescue_dump_params` with arch-neutral names: what the host fills in at panic
 * (rescue_dump_params_init) and what the rescue side's dumper reads back. `rootPa` is amd64
 * dp_kernpml4pa / arm64 dp_kernl0pa; `dpDmapbasepa` (DMAP_MIN_PHYSADDR) exists on arm64 only.
 */
export interface RescueDumpParams {
  readonly dpMsgbufpa: bigint;
  readonly dpMsgbufsz: bigint;
  readonly dpVmdumppa: bigint;
  readonly dpVmdumpsz: bigint;
  readonly dpDumpavailpa: bigint;
  readonly rootPa: bigint;
  readonly dpKernstart: bigint;
  readonly dpKernend: bigint;
  readonly dpKernmax: bigint;
  readonly dpDmapbasepa: bigint | undefined;
  readonly dpDmapmin: bigint;
  readonly dpDmapmax: bigint;
}

/** The params record's dump fields for `d` (merge into encodeRescueParams' values). */
export function rescueDumpFields<A extends Arch>(arch: A, d: RescueDumpParams): Partial<RescueKernelParams<A>> {
  const common = {
    dpMsgbufpa: d.dpMsgbufpa,
    dpMsgbufsz: d.dpMsgbufsz,
    dpVmdumppa: d.dpVmdumppa,
    dpVmdumpsz: d.dpVmdumpsz,
    dpDumpavailpa: d.dpDumpavailpa,
    dpKernstart: d.dpKernstart,
    dpKernend: d.dpKernend,
    dpKernmax: d.dpKernmax,
    dpDmapmin: d.dpDmapmin,
    dpDmapmax: d.dpDmapmax,
  };
  const fields =
    arch === 'amd64'
      ? { ...common, dpKernpml4pa: d.rootPa }
      : { ...common, dpKernl0pa: d.rootPa, dpDmapbasepa: d.dpDmapbasepa ?? 0n };
  return fields as Partial<RescueKernelParams<A>>;
}

/** The dump fields of decoded rescue_kernel_params, arch-neutral. */
export function rescueDumpParams<A extends Arch>(arch: A, p: RescueKernelParams<A>): RescueDumpParams {
  const v = p as Readonly<Record<string, bigint | number | undefined>>;
  const u = (k: string): bigint => BigInt(v[k] ?? 0);
  return {
    dpMsgbufpa: u('dpMsgbufpa'),
    dpMsgbufsz: u('dpMsgbufsz'),
    dpVmdumppa: u('dpVmdumppa'),
    dpVmdumpsz: u('dpVmdumpsz'),
    dpDumpavailpa: u('dpDumpavailpa'),
    rootPa: u(arch === 'amd64' ? 'dpKernpml4pa' : 'dpKernl0pa'),
    dpKernstart: u('dpKernstart'),
    dpKernend: u('dpKernend'),
    dpKernmax: u('dpKernmax'),
    dpDmapbasepa: arch === 'arm64' ? u('dpDmapbasepa') : undefined,
    dpDmapmin: u('dpDmapmin'),
    dpDmapmax: u('dpDmapmax'),
  };
}
