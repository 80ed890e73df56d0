/**
 * Test helper: assembles small guest programs with the system's binutils (GNU as for x86-64,
 * aarch64-linux-gnu-as for AArch64), extracts the flat bytes with objcopy -O binary and the
 * label offsets with nm, so test code is written in assembly and encoded by tools we did not
 * write. Programs are assembled at offset 0; use PC-relative branches and pass absolute
 * addresses in registers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../../loader/arch/index.js';
import { missingTools, type ToolName } from '../../helpers/tools.js';

const TOOLS: {
  readonly [A in Arch]: {
    readonly as: readonly [ToolName, ...string[]];
    readonly objcopy: ToolName;
    readonly nm: ToolName;
  };
} = {
  amd64: { as: ['as', '--64'], objcopy: 'objcopy', nm: 'nm' },
  arm64: { as: ['aarch64-linux-gnu-as'], objcopy: 'aarch64-linux-gnu-objcopy', nm: 'aarch64-linux-gnu-nm' },
};

/**
 * Undefined when the assembler, objcopy and nm for `arch` exist, else the reason to skip
 * (under CI=true a missing tool throws: test/helpers/tools.ts).
 */
export function asmMissing(arch: Arch): string | undefined {
  const t = TOOLS[arch];
  return missingTools(t.as[0], t.objcopy, t.nm);
}

/** Assembled code and the offsets of its labels (from nm). */
export interface Assembled {
  readonly bytes: Uint8Array;
  readonly symbols: ReadonlyMap<string, bigint>;
}

const cache = new Map<string, Assembled>();

/** Assembles `source` for `arch`: the bytes of its .text (offset 0) and its label offsets. */
export function assembleWithSymbols(arch: Arch, source: string): Assembled {
  const key = `${arch}\n${source}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'kboot-asm-'));
  try {
    const t = TOOLS[arch];
    const src = join(dir, 'p.S');
    const obj = join(dir, 'p.o');
    const bin = join(dir, 'p.bin');
    writeFileSync(src, `${arch === 'amd64' ? '.code64\n' : ''}.text\n${source}\n`);
    const [asCmd, ...asArgs] = t.as;
    const a = spawnSync(asCmd ?? 'as', [...asArgs, src, '-o', obj], { encoding: 'utf8' });
    if (a.status !== 0) throw new Error(`assembler failed: ${a.stderr}`);
    const o = spawnSync(t.objcopy, ['-O', 'binary', '-j', '.text', obj, bin], { encoding: 'utf8' });
    if (o.status !== 0) throw new Error(`objcopy failed: ${o.stderr}`);
    const n = spawnSync(t.nm, [obj], { encoding: 'utf8' });
    if (n.status !== 0) throw new Error(`nm failed: ${n.stderr}`);
    const symbols = new Map<string, bigint>();
    for (const line of n.stdout.split('\n')) {
      const m = /^([0-9a-f]+)\s+[tT]\s+(\S+)$/.exec(line.trim());
      if (m?.[1] !== undefined && m[2] !== undefined) symbols.set(m[2], BigInt(`0x${m[1]}`));
    }
    const out = { bytes: new Uint8Array(readFileSync(bin)), symbols };
    cache.set(key, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Assembles `source` for `arch` and returns the bytes of its .text (offset 0). */
export function assemble(arch: Arch, source: string): Uint8Array {
  return assembleWithSymbols(arch, source).bytes;
}

/** The offset of `label` in assembled code; throws when nm did not list it. */
export function sym(a: Assembled, label: string): bigint {
  const v = a.symbols.get(label);
  if (v === undefined) throw new Error(`label ${label} not found`);
  return v;
}
