/**
 * `kboot inspect` start-to-finish against the least a CLI must do: a 64 MiB FreeBSD-layout
 * kernel (written with writeElf, 50 000 symbols) is inspected by a fresh
 * `node dist/cli/main.js inspect FILE` process, interleaved with a fresh Node process that
 * only reads the same file (`node -e "require('fs').readFileSync(process.argv[1])" FILE`).
 * Reported as runs per second (1000 / median ms), so ratio = read-only time / inspect time;
 * the requirement is inspect ≤ 1.5× the read-only process, i.e. ratio ≥ 1/1.5.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelVa, Size } from '../loader/addr.js';
import { archInfo } from '../loader/arch/index.js';
import { PF, SHF, STB, STT, writeElf, type ElfSymbolSpec } from '../loader/elf/index.js';
import { packageRoot } from '../loader/paths.js';
import { compare, medianPairMs, type Benchmark, type BenchResult } from './harness.js';

const MIB = 1 << 20;
const TEXT = 46 * MIB;
const DATA = 16 * MIB;
const SYMBOLS = 50_000;

/** A 64 MiB kernel in FreeBSD layout (file offset 0 at KERNSTART) with a large symbol table. */
function bigKernel(): Uint8Array {
  const ks = archInfo('amd64').kernstart;
  const at = (off: number): KernelVa => (ks + BigInt(off)) as KernelVa;
  const text = randomFillSync(new Uint8Array(TEXT));
  text.fill(0, 0, 0x1000); // the headers go here
  const data = randomFillSync(new Uint8Array(DATA));
  const symbols: ElfSymbolSpec[] = Array.from({ length: SYMBOLS }, (_, i) => ({
    name: `kboot_bench_symbol_${i}`,
    value: at(0x1000 + ((i * 64) % (TEXT - 0x1000))),
    size: 64n as Size,
    type: STT.FUNC,
    bind: STB.GLOBAL,
    shndx: 1,
  }));
  return writeElf({
    arch: 'amd64',
    type: 'exec',
    osabi: 9,
    entry: at(0x1000),
    layout: { linearBase: ks },
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: at(0), data: text, align: 0x20_0000n as Size },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: at(TEXT),
        data,
        memsz: BigInt(DATA + 8 * MIB) as Size,
        align: 0x20_0000n as Size,
      },
    ],
    sections: [
      {
        name: '.text',
        type: 'progbits',
        flags: SHF.ALLOC | SHF.EXECINSTR,
        addr: at(0x1000),
        inSegment: 0,
        size: BigInt(TEXT - 0x1000) as Size,
      },
    ],
    symbols,
  });
}

function spawnOk(args: readonly string[]): void {
  const r = spawnSync(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * MIB });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${String(r.status)}: ${String(r.stderr)}`);
}

export const benchmarks: Benchmark[] = [
  {
    name: 'inspect',
    run: async (): Promise<BenchResult[]> => {
      const dir = mkdtempSync(join(tmpdir(), 'kboot-bench-inspect-'));
      try {
        const file = join(dir, 'kernel');
        const bytes = bigKernel();
        writeFileSync(file, bytes);
        const main = join(packageRoot(), 'dist', 'cli', 'main.js');
        const [inspectMs, readMs] = medianPairMs(
          () => spawnOk([main, 'inspect', file]),
          () => spawnOk(['-e', "require('fs').readFileSync(process.argv[1])", file]),
          9,
        );
        const label = `${Math.round(bytes.length / MIB)} MiB`;
        return [
          compare(
            'inspect-64MiB',
            `kboot inspect ${label} (process)`,
            1000 / inspectMs,
            `node readFileSync ${label} (process)`,
            1000 / readMs,
            'runs/s',
            1 / 1.5,
          ),
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
