/**
 * Mutations of seed inputs as fast-check arbitraries (so a counterexample shrinks to fewer and
 * smaller edits): byte sets and bit flips, truncation, insertion, deletion, duplication,
 * splicing of one seed into another, and length-field corruption — a u8/u16/u32/u64 at a
 * declared field (or an aligned offset) set to an interesting value, its own value ± a little,
 * or the input's length ± a little. Text seeds get the same byte edits on their UTF-8 and
 * edits made of the format's own tokens; JSON seeds get value replacements, deletions and
 * copies at real paths. Positions are taken modulo the input's length, so any seed works.
 */
import fc from 'fast-check';

/** A binary field a mutation may hit: offset, width and byte order. */
export interface Field {
  readonly at: number;
  readonly width: 1 | 2 | 4 | 8;
  readonly be?: boolean;
}

const U64 = (1n << 64n) - 1n;

/** Values that break length and offset checks. */
export const INTERESTING: readonly bigint[] = [
  0n,
  1n,
  2n,
  3n,
  4n,
  7n,
  8n,
  0x10n,
  0x20n,
  0x38n,
  0x40n,
  0x7fn,
  0x80n,
  0xffn,
  0x100n,
  0xfffn,
  0x1000n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x1_0000n,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_fffcn,
  0xffff_ffffn,
  0x1_0000_0000n,
  (1n << 53n) + 1n,
  (1n << 63n) - 1n,
  1n << 63n,
  U64 - 0xfffn,
  U64,
];

type Value = { readonly k: 'abs'; readonly v: bigint } | { readonly k: 'rel' | 'len'; readonly d: number };

export type ByteOp =
  | { readonly k: 'set'; readonly at: number; readonly v: number }
  | { readonly k: 'flip'; readonly at: number; readonly bit: number }
  | { readonly k: 'cut'; readonly at: number }
  | { readonly k: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly k: 'delete'; readonly at: number; readonly len: number }
  | { readonly k: 'dup'; readonly at: number; readonly len: number; readonly times: number }
  | { readonly k: 'splice'; readonly seed: number; readonly from: number; readonly at: number; readonly len: number }
  | { readonly k: 'graft'; readonly seed: number; readonly at: number; readonly from: number }
  | {
      readonly k: 'word';
      readonly at: number;
      readonly field: boolean;
      readonly width: 1 | 2 | 4 | 8;
      readonly be: boolean;
      readonly value: Value;
    };

const pos = fc.nat();
const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INTERESTING).map((v) => ({ k: 'abs' as const, v })) },
  { weight: 3, arbitrary: fc.integer({ min: -16, max: 16 }).map((d) => ({ k: 'rel' as const, d })) },
  { weight: 2, arbitrary: fc.integer({ min: -8, max: 8 }).map((d) => ({ k: 'len' as const, d })) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64 }).map((v) => ({ k: 'abs' as const, v })) },
);

/** One edit; field corruption weighs most (it gets past magic checks and into the length logic). */
export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('set' as const), at: pos, v: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flip' as const), at: pos, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cut' as const), at: pos }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      at: pos,
      bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('delete' as const), at: pos, len: fc.integer({ min: 1, max: 64 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('dup' as const),
      at: pos,
      len: fc.integer({ min: 1, max: 128 }),
      times: fc.integer({ min: 1, max: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('splice' as const),
      seed: fc.nat(),
      from: pos,
      at: pos,
      len: fc.integer({ min: 1, max: 512 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('graft' as const), seed: fc.nat(), at: pos, from: pos }) },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('word' as const),
      at: pos,
      field: fc.boolean(),
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      be: fc.boolean(),
      value,
    }),
  },
);

function readWord(b: Uint8Array, at: number, width: number, be: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) v |= BigInt(b[at + i] ?? 0) << BigInt(8 * (be ? width - 1 - i : i));
  return v;
}

function writeWord(b: Uint8Array, at: number, width: number, be: boolean, v: bigint): void {
  const mask = (1n << BigInt(8 * width)) - 1n;
  const x = ((v % (mask + 1n)) + (mask + 1n)) & mask;
  for (let i = 0; i < width && at + i < b.length; i++) {
    b[at + i] = Number((x >> BigInt(8 * (be ? width - 1 - i : i))) & 0xffn);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** How the mutator sees a target's seeds. */
export interface MutationContext {
  readonly seeds: readonly Uint8Array[];
  /** Declared fields per seed (same index), for length-field corruption. */
  readonly fields: readonly (readonly Field[])[];
  /** Byte order of aligned-offset words when no field is declared. */
  readonly bigEndian: boolean;
  /** Longest input a mutation may make (duplication stops there). */
  readonly maxLength: number;
}

function wordOp(
  b: Uint8Array,
  op: Extract<ByteOp, { k: 'word' }>,
  fields: readonly Field[],
  ctx: MutationContext,
): void {
  let at: number;
  let width: number = op.width;
  let be = op.be;
  const f = op.field && fields.length > 0 ? fields[op.at % fields.length] : undefined;
  if (f !== undefined) {
    at = f.at;
    width = f.width;
    be = f.be ?? false;
  } else {
    if (b.length < width) return;
    at = (op.at % (b.length - width + 1)) & ~(width - 1);
    be = op.be ? !ctx.bigEndian : ctx.bigEndian; // mostly the format's own order
  }
  if (at + width > b.length) return;
  const v = op.value;
  const next =
    v.k === 'abs' ? v.v : v.k === 'rel' ? readWord(b, at, width, be) + BigInt(v.d) : BigInt(b.length) + BigInt(v.d);
  writeWord(b, at, width, be, next);
}

/** Applies `ops` to seed `s` (never changes the seed). */
export function applyOps(ctx: MutationContext, s: number, ops: readonly ByteOp[]): Uint8Array {
  const seedIndex = s % ctx.seeds.length;
  let b: Uint8Array = (ctx.seeds[seedIndex] ?? new Uint8Array(0)).slice();
  const fields = ctx.fields[seedIndex] ?? [];
  for (const op of ops) {
    const n = b.length;
    switch (op.k) {
      case 'set':
        if (n > 0) b[op.at % n] = op.v;
        break;
      case 'flip':
        if (n > 0) b[op.at % n] = (b[op.at % n] ?? 0) ^ (1 << op.bit);
        break;
      case 'cut':
        b = b.subarray(0, op.at % (n + 1));
        break;
      case 'insert': {
        const at = op.at % (n + 1);
        b = concat(b.subarray(0, at), op.bytes, b.subarray(at));
        break;
      }
      case 'delete': {
        const at = op.at % (n + 1);
        b = concat(b.subarray(0, at), b.subarray(at + op.len));
        break;
      }
      case 'dup': {
        const at = op.at % (n + 1);
        const chunk = b.subarray(at, at + op.len);
        const copies = Math.max(0, Math.min(op.times, Math.floor((ctx.maxLength - n) / Math.max(1, chunk.length))));
        b = concat(
          b.subarray(0, at),
          ...Array.from({ length: copies + 1 }, () => chunk),
          b.subarray(at + chunk.length),
        );
        break;
      }
      case 'splice': {
        const other = ctx.seeds[op.seed % ctx.seeds.length] ?? new Uint8Array(0);
        if (other.length === 0 || n === 0) break;
        const from = op.from % other.length;
        const chunk = other.subarray(from, from + op.len);
        const at = op.at % n;
        b = b.slice();
        b.set(chunk.subarray(0, n - at), at);
        break;
      }
      case 'graft': {
        const other = ctx.seeds[op.seed % ctx.seeds.length] ?? new Uint8Array(0);
        b = concat(b.subarray(0, op.at % (n + 1)), other.subarray(op.from % (other.length + 1)));
        break;
      }
      case 'word':
        b = b.slice();
        wordOp(b, op, fields, ctx);
        break;
    }
    if (b.length > ctx.maxLength) b = b.subarray(0, ctx.maxLength);
  }
  return b;
}

/** Mutated seeds: a seed index and 1..`maxOps` edits. */
export function mutatedBytes(ctx: MutationContext, maxOps = 4): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.nat(), fc.array(byteOp, { minLength: 1, maxLength: maxOps }))
    .map(([s, ops]) => applyOps(ctx, s, ops));
}

/** A seed's first `keep` bytes (its magic and header) followed by random bytes. */
export function seedHeadRandomTail(ctx: MutationContext, keep: number, maxTail = 512): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.nat(), fc.nat(keep), fc.uint8Array({ maxLength: maxTail }))
    .map(([s, k, tail]) => concat((ctx.seeds[s % ctx.seeds.length] ?? new Uint8Array(0)).subarray(0, k), tail));
}

/** Byte edits on the UTF-8 of text seeds (invalid UTF-8 decodes to U+FFFD, as readFileSync's 'utf8' does). */
export function mutatedText(seeds: readonly string[], maxOps = 4): fc.Arbitrary<string> {
  const enc = new TextEncoder();
  const ctx: MutationContext = {
    seeds: seeds.map((s) => enc.encode(s)),
    fields: [],
    bigEndian: false,
    maxLength: 1 << 20,
  };
  const dec = new TextDecoder();
  return mutatedBytes(ctx, maxOps).map((b) => dec.decode(b));
}

/** Replaces characters of text seeds with the format's own tokens. */
export function tokenEdits(seeds: readonly string[], tokens: readonly string[], maxEdits = 6): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...tokens), fc.boolean()), { minLength: 1, maxLength: maxEdits }),
    )
    .map(([s, edits]) => {
      const chars = [...(seeds[s % seeds.length] ?? '')];
      for (const [at, tok, insert] of edits) {
        const i = at % (chars.length + 1);
        if (insert) chars.splice(i, 0, tok);
        else chars[i] = tok;
      }
      return chars.join('');
    });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every [path, value] of a JSON tree, the root first. */
function jsonPaths(v: Json, path: (string | number)[] = [], out: [(string | number)[], Json][] = []) {
  out.push([path, v]);
  if (Array.isArray(v)) v.forEach((x, i) => jsonPaths(x, [...path, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) jsonPaths(x, [...path, k], out);
  return out;
}

function parentOf(root: Json, path: readonly (string | number)[]): Json | undefined {
  let v: Json | undefined = root;
  for (const p of path.slice(0, -1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Array.isArray(v) ? v[Number(p)] : v[String(p)];
  }
  return v;
}

type JsonOp =
  | { readonly k: 'replace'; readonly at: number; readonly v: Json }
  | { readonly k: 'tweak'; readonly at: number; readonly n: number }
  | { readonly k: 'delete'; readonly at: number }
  | { readonly k: 'copy'; readonly at: number; readonly seed: number; readonly from: number }
  | { readonly k: 'dup'; readonly at: number };

/** Values that stress a JSON schema and the rules after it. */
const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    '',
    '0',
    '0x0',
    '0x1000',
    '0x1001',
    '0xffffffffffffffff',
    '0x10000000000000000',
    '4K',
    '1G',
    '2G',
    '16E',
    '-1',
    '0x',
    'amd64',
    'arm64',
    'efi',
    'bios',
    'fdt',
    'pl011',
    'ns16550',
    'reserved',
    'boot',
    'load',
    'linux',
    'freebsd',
    [],
    {},
  ),
  fc.integer(),
  fc.string({ maxLength: 12 }),
  fc.bigInt({ min: 0n, max: 1n << 66n }).map((v) => `0x${v.toString(16)}`),
);

const jsonOp: fc.Arbitrary<JsonOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('replace' as const), at: fc.nat(), v: jsonValue }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('tweak' as const), at: fc.nat(), n: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('copy' as const), at: fc.nat(), seed: fc.nat(), from: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dup' as const), at: fc.nat() }) },
);

const SIZE_WORDS = ['4K', '64K', '1M', '2M', '16M', '256M', '1G', '2G', '4G', '8G', '1T'];

/**
 * A value of the same kind as `v`, near it: an address or size ± a page, doubled, halved,
 * realigned or at a boundary; another size word; another of the strings the seeds use; a
 * number ± 1; a flipped boolean; an array with an element dropped or repeated.
 */
function tweak(v: Json, n: number, strings: readonly string[]): Json {
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) {
    const x = BigInt(v);
    const near = [
      x + 0x1000n,
      x - 0x1000n,
      x * 2n,
      x / 2n,
      x + 1n,
      x & ~0x1f_ffffn,
      x + 0x20_0000n,
      1n << 32n,
      (1n << 64n) - 0x1000n,
      0n,
    ];
    const y = near[n % near.length] ?? x;
    return `0x${(y < 0n ? 0n : y).toString(16)}`;
  }
  if (typeof v === 'string' && /^\d+[KMGT]?$/.test(v)) return SIZE_WORDS[n % SIZE_WORDS.length] ?? v;
  if (typeof v === 'string') return strings.length === 0 ? v : (strings[n % strings.length] ?? v);
  if (typeof v === 'number') return [v + 1, v - 1, v * 2, 0, 1, 4, 0x1_0000][n % 7] ?? v;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v) && v.length > 0) {
    const copy = structuredClone(v);
    if (n % 2 === 0) copy.splice(n % v.length, 1);
    else copy.push(structuredClone(v[n % v.length] ?? null));
    return copy;
  }
  return v;
}

function applyJsonOp(root: Json, op: JsonOp, others: readonly Json[], strings: readonly string[]): Json {
  const paths = jsonPaths(root);
  const target = paths[op.at % paths.length];
  if (target === undefined) return root;
  const [path] = target;
  const last = path[path.length - 1];
  const parent = parentOf(root, path);
  let v: Json = null;
  if (op.k === 'replace') v = op.v;
  else if (op.k === 'tweak') v = tweak(target[1], op.n, strings);
  else if (op.k === 'copy') {
    const other = others[op.seed % others.length] ?? null;
    const ps = jsonPaths(other);
    v = structuredClone(ps[op.from % ps.length]?.[1] ?? null);
  } else if (op.k === 'dup') v = structuredClone(target[1]);
  if (last === undefined || parent === undefined || parent === null || typeof parent !== 'object') {
    return op.k === 'delete' ? {} : v;
  }
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (op.k === 'delete') parent.splice(i, 1);
    else if (op.k === 'dup') parent.splice(i, 0, v);
    else parent[i] = v;
  } else if (op.k === 'delete') delete parent[String(last)];
  else parent[op.k === 'dup' ? `${String(last)}_` : String(last)] = v;
  return root;
}

/** JSON seeds with values replaced, deleted, duplicated or copied from another seed; pretty or compact. */
export function mutatedJson(seeds: readonly string[], maxOps = 3): fc.Arbitrary<string> {
  const parsed = seeds.map((s) => JSON.parse(s) as Json);
  const strings = [
    ...new Set(
      parsed.flatMap((p) =>
        jsonPaths(p)
          .map(([, v]) => v)
          .filter((v): v is string => typeof v === 'string' && !/^0x/.test(v)),
      ),
    ),
  ].sort();
  return fc
    .tuple(fc.nat(), fc.array(jsonOp, { minLength: 1, maxLength: maxOps }), fc.boolean())
    .map(([s, ops, pretty]) => {
      let root: Json = structuredClone(parsed[s % parsed.length] ?? null);
      for (const op of ops) root = applyJsonOp(root, op, parsed, strings);
      return JSON.stringify(root, null, pretty ? 2 : undefined);
    });
}
