// CPU error codes (loader/errors.ts MachineCode CPU_*): each starts from a good fixture that
// works, changes one field, and asserts the code (never the message). Also the manual-alias
// mode (shadow: false), where protection must follow aliases added later.
import t from 'tap';
import { kva, phys, size } from '../../loader/addr.js';
import { Cpu, COPY_LOOPS, type CopyLoop } from '../../machine/cpu/index.js';
import { NativeRam } from '../../machine/native-ram.js';
import { ArrayRam } from '../../loader/memory/guest-ram.js';
import { throwsCode } from '../helpers/errors.js';
import { AMD64, amd64Machine, arm64Machine, cpuTestOptions, K4 } from '../unit/machine/machines.js';
import { readU64 } from '../unit/machine/tables.js';
import { MachineCode } from '../../machine/errors.js';
import { MemoryCode } from '../../loader/memory/errors.js';

const OPTS = cpuTestOptions('amd64');
const OPTS_ARM = cpuTestOptions('arm64');
const LIMITS = { maxInstructions: 1000, timeoutMs: 2000 } as const;
const REGION = [{ base: phys(0), size: size(0x100_0000) }];

t.test('CPU_SETUP', OPTS, (t) => {
  const ram = new NativeRam(REGION);
  const good = new Cpu('amd64', ram);
  good.close();
  throwsCode(t, () => new Cpu('amd64', new ArrayRam(REGION)), MachineCode.CpuSetup, 'ArrayRam instead of NativeRam');
  throwsCode(t, () => new Cpu('mips' as 'amd64', ram), MachineCode.CpuSetup, 'unknown arch');
  throwsCode(
    t,
    () => new Cpu('amd64', ram, { uart: { kind: 'pl011', base: 0x900_0000n } }),
    MachineCode.CpuSetup,
    'UART of the other arch',
  );
  throwsCode(
    t,
    () => new Cpu('arm64', ram, { uart: { kind: 'pl011', base: 0x10_0000n } }),
    MachineCode.CpuSetup,
    'PL011 inside RAM',
  );
  const cpu = new Cpu('amd64', ram);
  cpu.setupLongMode({ cr3: phys(0x1000), gdtBase: phys(0x500) });
  throwsCode(
    t,
    () => cpu.setupLongMode({ cr3: phys(0x1000), gdtBase: phys(0x4000_0000) }),
    MachineCode.CpuSetup,
    'GDT not RAM',
  );
  throwsCode(
    t,
    () => cpu.setupEl1({ sctlr: 0n, tcr: 0n, mair: 0n, ttbr0: 0n, ttbr1: 0n }),
    MachineCode.CpuSetup,
    'EL1 set-up on amd64',
  );
  cpu.close();
  ram.close();
  t.end();
});

t.test('CPU_REGISTER', OPTS, (t) => {
  const m = amd64Machine();
  m.cpu.setReg('rax', 5n);
  t.equal(m.cpu.reg('rax'), 5n, 'good fixture');
  throwsCode(t, () => m.cpu.reg('x0'), MachineCode.CpuRegister, 'arm64 name on amd64');
  throwsCode(t, () => m.cpu.setReg('rax', -1n), MachineCode.CpuRegister, 'negative value');
  throwsCode(t, () => m.cpu.setReg('rax', 1n << 64n), MachineCode.CpuRegister, 'value past u64');
  throwsCode(t, () => m.cpu.setReg('gdtr_limit', 1n << 33n), MachineCode.CpuRegister, 'limit past 32 bits');
  m.close();
  t.end();
});

t.test('CPU_REGISTER: CurrentEL is read-only', OPTS_ARM, (t) => {
  const m = arm64Machine();
  t.equal(m.cpu.reg('currentel'), 4n);
  throwsCode(t, () => m.cpu.setReg('currentel', 0n), MachineCode.CpuRegister);
  m.close();
  t.end();
});

t.test('CPU_MAP', OPTS, (t) => {
  const m = amd64Machine();
  m.cpu.protect(phys(0x40_0000), size(K4), 'ro');
  throwsCode(t, () => m.cpu.protect(phys(0x4000_0000), size(K4), 'ro'), MachineCode.CpuMap, 'not RAM');
  throwsCode(t, () => m.cpu.protect(phys(0x40_0800), size(K4), 'ro'), MachineCode.CpuMap, 'not aligned');
  throwsCode(t, () => m.cpu.protect(phys(0x40_0000), size(0), 'ro'), MachineCode.CpuMap, 'empty');
  throwsCode(t, () => m.cpu.protect(phys(0x40_0000), size(K4), 'rx' as 'ro'), MachineCode.CpuMap, 'bad mode');
  throwsCode(
    t,
    () => m.cpu.mapAlias(kva(0x4000_0000), phys(0x40_0000), size(K4)),
    MachineCode.CpuMap,
    'shadow owns the map',
  );
  m.close();
  t.end();
});

t.test('manual aliases (shadow: false): map, run through, protect follows, unmap; CPU_MAP on bad ones', OPTS, (t) => {
  const m = amd64Machine({ shadow: false, paging: false });
  const A = 0x4000_0000n;
  const P = 0x60_0000n;
  m.cpu.protect(phys(P + K4), size(K4), 'ro'); // before the alias exists
  m.cpu.mapAlias(kva(A), phys(P), size(2n * K4));
  t.same(
    m.cpu.aliases().map((w) => [w.va, w.pa, w.size]),
    [[A, P, 2n * K4]],
  );
  throwsCode(t, () => m.cpu.mapAlias(kva(A + K4), phys(P), size(K4)), MachineCode.CpuMap, 'overlaps an alias');
  throwsCode(t, () => m.cpu.mapAlias(kva(0x5000_0000), phys(0x4000_0000), size(K4)), MachineCode.CpuMap, 'PA not RAM');
  throwsCode(t, () => m.cpu.mapAlias(kva(0x5000_0800), phys(P), size(K4)), MachineCode.CpuMap, 'VA not aligned');
  throwsCode(t, () => m.cpu.mapAlias(kva(0x10_0000), phys(P), size(K4)), MachineCode.CpuMap, 'over RAM');
  m.load(AMD64.code, 'movq $3, (%rax)\n movq $4, 0x1000(%rax)\n hlt');
  m.cpu.setReg('rax', A);
  const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'write-protect', 'the alias page of a protected PA is protected too');
  if (r.kind === 'write-protect') t.same([r.address, r.pa], [A + K4, P + K4]);
  t.equal(readU64(m.ram, P), 3n, 'the first store went through the alias to the PA');
  m.cpu.unmapAlias(kva(A + K4), size(K4));
  t.same(
    m.cpu.aliases().map((w) => [w.va, w.size]),
    [[A, K4]],
  );
  const r2 = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r2.kind, 'unmapped');
  throwsCode(t, () => m.cpu.unmapAlias(kva(A), size(0)), MachineCode.CpuMap, 'empty unmap');
  m.close();
  t.end();
});

t.test('CPU_RUN', OPTS, (t) => {
  const m = amd64Machine();
  m.load(AMD64.code, 'hlt');
  t.equal(m.cpu.run({ start: AMD64.code, ...LIMITS }).kind, 'halted', 'good fixture');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, maxInstructions: -1 }), MachineCode.CpuRun, 'negative budget');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, maxInstructions: 1.5 }), MachineCode.CpuRun, 'fractional budget');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, timeoutMs: Number.NaN }), MachineCode.CpuRun, 'NaN timeout');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, timeoutMs: Infinity }), MachineCode.CpuRun, 'no time limit');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, start: 1n << 64n }), MachineCode.CpuRun, 'start past u64');
  throwsCode(t, () => m.cpu.run({ ...LIMITS, breakpoints: [-1n] }), MachineCode.CpuRun, 'bad breakpoint');
  m.close();
  t.end();
});

t.test('CPU_ACCEL', OPTS, (t) => {
  const m = amd64Machine();
  const good: CopyLoop = COPY_LOOPS.repMovsq(AMD64.code);
  m.cpu.setCopyAccelerators([good]);
  t.same(m.cpu.copyAccelerators, [good], 'good fixture');
  const bad = (what: string, l: CopyLoop): void => {
    throwsCode(t, () => m.cpu.setCopyAccelerators([l]), MachineCode.CpuAccel, what);
  };
  bad('chunk 0', { ...good, chunk: 0 });
  bad('chunk too large', { ...good, chunk: 8192 });
  bad('unknown register', { ...good, src: 'x6' });
  bad('src = dst', { ...good, dst: 'rsi' });
  bad('load past the chunk', { ...good, loads: [{ reg: 'rax', offset: 4 }] });
  bad('exit past u64', { ...good, exit: 1n << 64n });
  bad('too many exit instructions', { ...good, exitInsns: 100 });
  m.close();
  t.end();
});

t.test('CPU_CLOSED and GUEST_CLOSED: the RAM stays mapped while the CPU lives', OPTS, (t) => {
  const m = amd64Machine();
  m.load(AMD64.code, 'hlt');
  m.ram.close();
  throwsCode(t, () => m.cpu.run({ start: AMD64.code, ...LIMITS }), MemoryCode.GuestClosed, 'run on closed RAM');
  m.cpu.close();
  m.cpu.close(); // idempotent
  throwsCode(t, () => m.cpu.run({ start: AMD64.code, ...LIMITS }), MachineCode.CpuClosed, 'run after close');
  throwsCode(t, () => m.cpu.reg('rax'), MachineCode.CpuClosed, 'reg after close');
  const ram = new NativeRam(REGION);
  ram.close();
  throwsCode(t, () => new Cpu('amd64', ram), MemoryCode.GuestClosed, 'CPU on closed RAM');
  t.end();
});
