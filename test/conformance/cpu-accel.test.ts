// Accelerated copy (native/cpu.cc "Accelerated copy", machine/cpu.ts CopyLoop) against exact
// emulation: random segment sets are copied by small trampoline-style loops assembled with GNU as
// (amd64: `rep movsq` and a mov/dec loop; arm64: an ldp/stp loop), once with the accelerator and
// once with exact: true. Both runs must leave identical RAM (SHA-256 by Node's crypto), registers,
// stop reason and instruction count - including overlapping segments, segments reached through a
// non-identity mapping (the accelerator must decline), write-protected pages and instruction limits.
import t from 'tap';
import fc from 'fast-check';
import { phys, size } from '../../loader/addr.js';
import { KERNBASE as KERNBASE_AMD64 } from '../../loader/arch/amd64/layout.js';
import { KERNBASE as KERNBASE_ARM64 } from '../../loader/arch/arm64/layout.js';
import { AMD64_REGS, ARM64_REGS, COPY_LOOPS, type CopyLoop, type StopReason } from '../../machine/cpu/index.js';
import { sym } from '../unit/machine/asm.js';
import { AMD64, amd64Machine, ARM64, arm64Machine, cpuTestOptions, K4, M2 } from '../unit/machine/machines.js';

/** Random segment sets per arch (the issue asks for 200 eventually; KBOOT_ACCEL_CASES overrides). */
const ACCEL_CASES = Number(process.env['KBOOT_ACCEL_CASES'] ?? 50);
const DATA_SIZE = 0x10_0000; // 1 MiB of copy arena
const MAX_QWORDS = 2048;

interface Segment {
  readonly src: number; // byte offset in the arena
  readonly dst: number;
  readonly qwords: number;
  readonly manual: boolean; // amd64: use the mov/dec loop instead of rep movsq
  readonly viaAlias: boolean; // read the source through the KERNBASE alias of the arena
}
interface Case {
  readonly seed: number;
  readonly segments: readonly Segment[];
  readonly protectPage?: number;
  readonly maxInstructions?: number;
}

const segment = fc
  .record({
    src: fc.integer({ min: 0, max: DATA_SIZE / 8 - MAX_QWORDS - 1 }),
    delta: fc.oneof(fc.integer({ min: -64, max: 64 }), fc.integer({ min: -(DATA_SIZE / 8), max: DATA_SIZE / 8 })),
    qwords: fc.integer({ min: 1, max: MAX_QWORDS }),
    manual: fc.boolean(),
    viaAlias: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  })
  .map(({ src, delta, qwords, manual, viaAlias }) => {
    const maxStart = DATA_SIZE / 8 - qwords;
    const s = Math.min(src, maxStart);
    const d = Math.max(0, Math.min(maxStart, s + delta));
    return { src: s * 8, dst: d * 8, qwords, manual, viaAlias };
  });

const cases: fc.Arbitrary<Case> = fc
  .record(
    {
      seed: fc.integer({ min: 1, max: 0x7fff_ffff }),
      segments: fc.array(segment, { minLength: 1, maxLength: 6 }),
      protectPage: fc.integer({ min: 0, max: DATA_SIZE / 4096 - 1 }),
      maxInstructions: fc.integer({ min: 1, max: 20_000 }),
      flags: fc.integer({ min: 0, max: 7 }),
    },
    { requiredKeys: ['seed', 'segments', 'flags'] },
  )
  .map(({ seed, segments, protectPage, maxInstructions, flags }) => ({
    seed,
    segments,
    ...(flags === 1 && protectPage !== undefined ? { protectPage } : {}),
    ...(flags === 2 && maxInstructions !== undefined ? { maxInstructions } : {}),
  }));

/** Deterministic arena contents (xorshift32). */
function arena(seed: number): Uint8Array {
  const out = new Uint8Array(DATA_SIZE);
  let x = seed | 1;
  for (let i = 0; i < DATA_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

function table(words: readonly bigint[]): Uint8Array {
  const b = new Uint8Array(words.length * 8);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setBigUint64(i * 8, w, true));
  return b;
}

interface Outcome {
  readonly stop: Omit<StopReason, 'elapsedMs' | 'accelerated'>;
  readonly sha: string;
  readonly regs: Record<string, bigint>;
  readonly copies: number;
}

function strip(r: StopReason): Omit<StopReason, 'elapsedMs' | 'accelerated'> {
  const { elapsedMs: _e, accelerated: _a, ...rest } = r;
  return rest;
}

// amd64 --------------------------------------------------------------------------------------

const AMD64_DATA = 0x40_0000n;
const AMD64_TABLE = 0x30_0000n;
const AMD64_ALIAS = KERNBASE_AMD64 + M2;
const AMD64_PROGRAM = `
next:
  mov (%r8), %rsi
  mov 8(%r8), %rdi
  mov 16(%r8), %rcx
  mov 24(%r8), %r10
  cld
  test %r10, %r10
  jnz man_head
movs_head:
  rep movsq
movs_exit:
  jmp step
man_head:
  mov (%rsi), %rax
  mov %rax, (%rdi)
  add $8, %rsi
  add $8, %rdi
  dec %rcx
  jnz man_head
step:
  add $32, %r8
  dec %r9
  jnz next
  hlt
`;
/** x86 flags (Intel SDM vol. 1 §3.4.3): the mov/dec loop leaves ZF, PF set and CF, AF, SF, OF clear. */
const X86F = { CF: 1n, PF: 4n, AF: 0x10n, ZF: 0x40n, SF: 0x80n, OF: 0x800n } as const;

function runAmd64(c: Case, exact: boolean): Outcome {
  const m = amd64Machine({ exact });
  try {
    m.tables.map(AMD64_ALIAS, AMD64_DATA, BigInt(DATA_SIZE));
    const code = m.load(AMD64.code, AMD64_PROGRAM);
    const head = AMD64.code + sym(code, 'movs_head');
    const manual: CopyLoop = {
      name: 'mov/dec qword loop',
      at: AMD64.code + sym(code, 'man_head'),
      exit: AMD64.code + sym(code, 'step'),
      src: 'rsi',
      dst: 'rdi',
      count: 'rcx',
      countUnit: 8,
      chunk: 8,
      insnsPerIteration: 6,
      loads: [{ reg: 'rax', offset: 0 }],
      flags: { reg: 'rflags', set: X86F.ZF | X86F.PF, clear: X86F.CF | X86F.AF | X86F.SF | X86F.OF },
    };
    const repMovsq = COPY_LOOPS.repMovsq(head);
    // The preset's exit (head + 3: F3 48 A5) must agree with GNU as on where the next instruction is.
    if (repMovsq.exit !== AMD64.code + sym(code, 'movs_exit')) throw new Error('rep movsq length disagrees with as');
    m.cpu.setCopyAccelerators([repMovsq, manual]);
    m.ram.write(phys(AMD64_DATA), arena(c.seed));
    const words: bigint[] = [];
    for (const s of c.segments) {
      const src = (s.viaAlias ? AMD64_ALIAS : AMD64_DATA) + BigInt(s.src);
      words.push(src, AMD64_DATA + BigInt(s.dst), BigInt(s.qwords), s.manual ? 1n : 0n);
    }
    m.ram.write(phys(AMD64_TABLE), table(words));
    m.cpu.setReg('r8', AMD64_TABLE);
    m.cpu.setReg('r9', BigInt(c.segments.length));
    if (c.protectPage !== undefined) m.cpu.protect(phys(AMD64_DATA + BigInt(c.protectPage) * K4), size(K4), 'ro');
    const r = m.cpu.run({ start: AMD64.code, maxInstructions: c.maxInstructions ?? 10_000_000, timeoutMs: 30_000 });
    const regs: Record<string, bigint> = {};
    for (const name of AMD64_REGS) regs[name] = m.cpu.reg(name);
    return { stop: strip(r), sha: m.ram.sha256(phys(AMD64_DATA), size(DATA_SIZE)), regs, copies: r.accelerated.copies };
  } finally {
    m.close();
  }
}

// arm64 --------------------------------------------------------------------------------------

const ARM64_DATA = ARM64.ram + 0x40_0000n;
const ARM64_TABLE = ARM64.ram + 0x30_0000n;
const ARM64_ALIAS = KERNBASE_ARM64 + 0x20_0000n;
const ARM64_PROGRAM = `
next:
  ldp x6, x7, [x10]
  ldr x8, [x10, #16]
head:
  ldp x3, x4, [x6], #16
  stp x3, x4, [x7], #16
  subs x8, x8, #16
  b.ne head
exit:
  add x10, x10, #24
  subs x11, x11, #1
  b.ne next
  wfi
`;

function runArm64(c: Case, exact: boolean): Outcome {
  const m = arm64Machine({ exact });
  try {
    m.tables.map(ARM64_ALIAS, ARM64_DATA, BigInt(DATA_SIZE));
    const code = m.load(ARM64.code, ARM64_PROGRAM);
    const at = ARM64.code + sym(code, 'head');
    if (ARM64.code + sym(code, 'exit') !== at + 16n) throw new Error('loop shape changed');
    m.cpu.setCopyAccelerators([
      COPY_LOOPS.arm64LdpStp({ at, src: 'x6', dst: 'x7', remaining: 'x8', t1: 'x3', t2: 'x4' }),
    ]);
    m.ram.write(phys(ARM64_DATA), arena(c.seed));
    const words: bigint[] = [];
    for (const s of c.segments) {
      // ldp/stp moves 16 bytes per iteration: round the length up to a pair of qwords.
      const bytes = BigInt(Math.ceil(s.qwords / 2) * 16);
      const src = Math.min(s.src, DATA_SIZE - Number(bytes));
      const dst = Math.min(s.dst, DATA_SIZE - Number(bytes));
      words.push((s.viaAlias ? ARM64_ALIAS : ARM64_DATA) + BigInt(src), ARM64_DATA + BigInt(dst), bytes);
    }
    m.ram.write(phys(ARM64_TABLE), table(words));
    m.cpu.setReg('x10', ARM64_TABLE);
    m.cpu.setReg('x11', BigInt(c.segments.length));
    if (c.protectPage !== undefined) m.cpu.protect(phys(ARM64_DATA + BigInt(c.protectPage) * K4), size(K4), 'ro');
    const r = m.cpu.run({ start: ARM64.code, maxInstructions: c.maxInstructions ?? 10_000_000, timeoutMs: 30_000 });
    const regs: Record<string, bigint> = {};
    for (const name of ARM64_REGS) regs[name] = m.cpu.reg(name);
    return { stop: strip(r), sha: m.ram.sha256(phys(ARM64_DATA), size(DATA_SIZE)), regs, copies: r.accelerated.copies };
  } finally {
    m.close();
  }
}

// --------------------------------------------------------------------------------------------

for (const [arch, run] of [
  ['amd64', runAmd64],
  ['arm64', runArm64],
] as const) {
  t.test(
    `${arch}: accelerated and exact copies leave identical RAM, registers and stops`,
    cpuTestOptions(arch),
    (t) => {
      let accelerated = 0;
      let plain = 0;
      const stops = new Set<string>();
      fc.assert(
        fc.property(cases, (c) => {
          const fast = run(c, false);
          const slow = run(c, true);
          t.equal(slow.copies, 0, 'exact mode never accelerates');
          accelerated += fast.copies;
          plain += c.segments.length;
          t.same(fast.stop, slow.stop, 'same stop reason, PC and instruction count');
          stops.add(slow.stop.kind);
          t.equal(fast.sha, slow.sha, 'same RAM');
          t.same(fast.regs, slow.regs, 'same registers');
        }),
        { numRuns: ACCEL_CASES },
      );
      t.ok(accelerated > plain / 3, `the accelerator did work (${accelerated} of ${plain} loops)`);
      t.ok(stops.size >= 2, `stop kinds seen: ${[...stops].join(', ')}`);
      t.end();
    },
  );
}
