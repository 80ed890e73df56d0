/**
 * Target builders: a byte-string parser (`bytesTarget`), a text parser (`textTarget`) and a
 * parser of several parts (`partsTarget`, saved as a JSON header line and the parts). Each
 * builds the input arbitrary from the seeds: arbitrary bytes or text, a seed's head with a
 * random tail, mutated seeds (lib/mutate.ts) and the target's own generators.
 */
import fc from 'fast-check';
import type { ErrorClass, FuzzCase, FuzzGroup, FuzzTarget, PreparedTarget } from './target.js';
import {
  mutatedBytes,
  mutatedJson,
  mutatedText,
  seedHeadRandomTail,
  tokenEdits,
  type Field,
  type MutationContext,
} from './mutate.js';

interface TargetMeta {
  readonly name: string;
  readonly group: FuzzGroup;
  readonly entry: string;
  readonly errors: readonly ErrorClass[];
  readonly floor: number;
  readonly tapRuns: number;
  readonly native?: boolean;
}

export interface BytesTargetSpec extends TargetMeta {
  seeds(): readonly Uint8Array[];
  decode(b: Uint8Array): unknown;
  /** Header fields of a seed, for length-field corruption. */
  fields?(seed: Uint8Array): readonly Field[];
  /** The format's byte order (FDT, kerneldumpheader: big-endian). */
  readonly bigEndian?: boolean;
  /** Longest arbitrary byte string (default 1024). */
  readonly randomLength?: number;
  /** Most bytes of a seed kept before a random tail (default 64). */
  readonly keepHead?: number;
  /** Most edits per mutated input (default 4). */
  readonly maxOps?: number;
  /** Extra generators over the mutation context. */
  extra?(ctx: MutationContext): readonly fc.WeightedArbitrary<Uint8Array>[];
  /** Weights of arbitrary bytes, seed head + random tail, mutated seeds (default 1, 1, 6). */
  readonly weights?: readonly [number, number, number];
}

const hexHead = (b: Uint8Array): string => Buffer.from(b.subarray(0, 48)).toString('hex') + (b.length > 48 ? '…' : '');

/** A case over bytes; fast-check prints it as its length and first bytes. */
export function bytesCase(bytes: Uint8Array, run: () => unknown): FuzzCase {
  return {
    bytes,
    run,
    [fc.toStringMethod]: () => `bytes(${bytes.length}) ${hexHead(bytes)}`,
  } as FuzzCase;
}

export function bytesTarget(spec: BytesTargetSpec): FuzzTarget {
  const { seeds: makeSeeds, decode, fields, extra, ...meta } = spec;
  return {
    ...meta,
    prepare(): PreparedTarget {
      // Plain copies: a Buffer's slice() is a view, so a mutation would change the seed itself.
      const seeds = makeSeeds().map((s) => new Uint8Array(s));
      const longest = seeds.reduce((m, s) => Math.max(m, s.length), 0);
      const ctx: MutationContext = {
        seeds,
        fields: seeds.map((s) => fields?.(s) ?? []),
        bigEndian: spec.bigEndian === true,
        maxLength: longest * 2 + 4096,
      };
      const mk = (b: Uint8Array): FuzzCase => bytesCase(b, () => decode(b));
      const [wRandom, wHead, wMutated] = spec.weights ?? [1, 1, 6];
      const arbitrary = fc
        .oneof(
          { weight: wRandom, arbitrary: fc.uint8Array({ maxLength: spec.randomLength ?? 1024 }) },
          { weight: wHead, arbitrary: seedHeadRandomTail(ctx, spec.keepHead ?? 64) },
          { weight: wMutated, arbitrary: mutatedBytes(ctx, spec.maxOps ?? 4) },
          ...(extra?.(ctx) ?? []),
        )
        .map(mk);
      return { seeds: seeds.map(mk), arbitrary, fromBytes: mk };
    },
  };
}

export interface TextTargetSpec extends TargetMeta {
  seeds(): readonly string[];
  decode(text: string): unknown;
  /** The format's own tokens, for token edits. */
  readonly tokens?: readonly string[];
  /** The seeds are JSON: add value-level mutations. */
  readonly json?: boolean;
  extra?(seeds: readonly string[]): readonly fc.WeightedArbitrary<string>[];
}

/** A case over text; its bytes are the UTF-8. */
export function textCase(text: string, run: () => unknown): FuzzCase {
  const bytes = new TextEncoder().encode(text);
  return {
    bytes,
    run,
    [fc.toStringMethod]: () =>
      `text(${text.length}) ${JSON.stringify(text.slice(0, 80))}${text.length > 80 ? '…' : ''}`,
  } as FuzzCase;
}

export function textTarget(spec: TextTargetSpec): FuzzTarget {
  const { seeds: makeSeeds, decode, tokens, extra, json, ...meta } = spec;
  return {
    ...meta,
    prepare(): PreparedTarget {
      const seeds = makeSeeds();
      const mk = (s: string): FuzzCase => textCase(s, () => decode(s));
      const arbs: fc.WeightedArbitrary<string>[] = [
        { weight: 1, arbitrary: fc.string({ maxLength: 256, unit: 'binary' }) },
        { weight: 3, arbitrary: mutatedText(seeds) },
      ];
      if (tokens !== undefined) arbs.push({ weight: 3, arbitrary: tokenEdits(seeds, tokens) });
      if (json === true) {
        arbs.push({ weight: 6, arbitrary: mutatedJson(seeds) });
        arbs.push({ weight: 1, arbitrary: fc.json({ maxDepth: 3 }) });
      }
      arbs.push(...(extra?.(seeds) ?? []));
      return {
        seeds: seeds.map(mk),
        arbitrary: fc.oneof(...arbs).map(mk),
        fromBytes: (b) => mk(new TextDecoder().decode(b)),
      };
    },
  };
}

/**
 * A case of several parts: saved as one JSON line (`meta` and the parts' lengths) followed
 * by the parts' bytes, so `--input FILE` replays it.
 */
export function packParts(meta: unknown, parts: readonly Uint8Array[]): Uint8Array {
  const head = new TextEncoder().encode(`${JSON.stringify({ meta, lengths: parts.map((p) => p.length) })}\n`);
  const out = new Uint8Array(head.length + parts.reduce((n, p) => n + p.length, 0));
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The inverse of packParts; a file that is not one gives `{ meta: undefined, parts: [bytes] }`. */
export function unpackParts(bytes: Uint8Array): { meta: unknown; parts: Uint8Array[] } {
  const nl = bytes.indexOf(0x0a);
  try {
    const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl))) as { meta?: unknown; lengths?: unknown };
    if (nl < 0 || !Array.isArray(head.lengths)) throw new Error('not packed');
    const parts: Uint8Array[] = [];
    let at = nl + 1;
    for (const n of head.lengths) {
      const len = Number(n);
      parts.push(bytes.subarray(at, at + len));
      at += len;
    }
    return { meta: head.meta, parts };
  } catch {
    return { meta: undefined, parts: [bytes] };
  }
}
