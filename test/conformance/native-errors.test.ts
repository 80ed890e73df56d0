// The addon's argument errors (native/convert.h): every entry point answers a value of the
// wrong type with an error carrying its method's `kbootCode` - the one u64 converter (bigint
// or safe integer, bounded), Str/Obj/Bytes, the option readers - never a bare TypeError that
// native/binding.ts could only call NATIVE_INTERNAL, and never a crash. The addon is called
// directly here (the TS layer validates first, so these errors are otherwise unreachable);
// the last test shows `callNative` mapping such a code to its KbootError.
import { closeSync, openSync } from 'node:fs';
import { devNull } from 'node:os';
import t from 'tap';
import { callNative, loadNative, nativeAvailable } from '../../native/binding.js';
import { throwsCode } from '../helpers/errors.js';
import { NativeCode } from '../../native/errors.js';
import { MemoryCode } from '../../loader/memory/errors.js';

const NATIVE = nativeAvailable() ? {} : { skip: 'native addon not built' };

/** A value of the wrong type, passed where the typed surface would not allow it. */
const bad = <T>(v: unknown): T => v as T;

/** The `kbootCode` of what `fn` throws ('no error' / 'no kbootCode' otherwise). */
function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return (e as { kbootCode?: unknown }).kbootCode ?? `no kbootCode (${String(e)})`;
  }
  return 'no error';
}

t.test('guest RAM: GUEST_RANGE for a bad address, length, byte or buffer', NATIVE, (t) => {
  const addon = loadNative();
  const ram = new addon.GuestRam([{ base: 0x1000n, size: 0x1000n }]);
  const cases: [string, () => unknown, string][] = [
    ['address a string', () => ram.read(bad('0x1000'), 1n), 'GUEST_RANGE'],
    ['address negative', () => ram.read(-1n, 1n), 'GUEST_RANGE'],
    ['address past 2^64', () => ram.copy(1n << 64n, 0x1000n, 1n), 'GUEST_RANGE'],
    ['length a fraction', () => ram.view(0x1000n, bad(1.5)), 'GUEST_RANGE'],
    ['bytes a string', () => ram.write(0x1000n, bad('abc')), 'GUEST_RANGE'],
    ['bytes a number', () => ram.equals(0x1000n, bad(5)), 'GUEST_RANGE'],
    ['fill byte 256', () => ram.fill(0x1000n, 1n, 256), 'GUEST_RANGE'],
    ['page list not a typed array', () => ram.gatherPages(bad([0x1000n]), undefined, undefined), 'GUEST_RANGE'],
    ['regions not an array', () => new addon.GuestRam(bad('regions')), 'GUEST_REGIONS'],
    ['region base a string', () => new addon.GuestRam(bad([{ base: '0', size: 0x1000n }])), 'GUEST_REGIONS'],
  ];
  for (const [what, fn, code] of cases) t.equal(codeOf(fn), code, what);
  t.equal(ram.read(0x1000n, 2n).length, 2, 'the object still works');
  t.equal(ram.read(bad(0x1000), bad(2)).length, 2, 'safe-integer numbers are u64s too');
  ram.close();
  t.end();
});

t.test('CPU: the method code for a value of the wrong type', NATIVE, (t) => {
  const addon = loadNative();
  const ram = new addon.GuestRam([{ base: 0n, size: 0x10_0000n }]);
  const cpu = new addon.Cpu('amd64', ram, { uart: { kind: 'ns16550', port: 0x3f8 } });
  const cases: [string, () => unknown, string][] = [
    ['arch not a string', () => new addon.Cpu(bad(64), ram, {}), 'CPU_SETUP'],
    ['RAM not a GuestRam', () => new addon.Cpu('amd64', bad({}), {}), 'CPU_SETUP'],
    [
      'UART port past 16 bits',
      () => new addon.Cpu('amd64', ram, { uart: { kind: 'ns16550', port: 0x1_0000 } }),
      'CPU_SETUP',
    ],
    ['register name a number', () => cpu.getReg(bad(0)), 'CPU_REGISTER'],
    ['register value a string', () => cpu.setReg('rax', bad('1')), 'CPU_REGISTER'],
    ['run options missing', () => cpu.run(bad(undefined)), 'CPU_RUN'],
    ['maxInstructions negative', () => cpu.run({ maxInstructions: -1, timeoutMs: 10 }), 'CPU_RUN'],
    ['breakpoint a string', () => cpu.run({ maxInstructions: 1, timeoutMs: 10, breakpoints: bad(['x']) }), 'CPU_RUN'],
    ['windows not an array', () => cpu.setMappings(bad({}), []), 'CPU_MAP'],
    ['window va a string', () => cpu.setMappings(bad([{ va: 'x', pa: 0n, size: 0x1000n }]), []), 'CPU_MAP'],
    ['protection mode', () => cpu.protect(0n, 0x1000n, bad('rx')), 'CPU_MAP'],
    ['alias size missing', () => cpu.mapAlias(0x20_0000n, 0n, bad(undefined)), 'CPU_MAP'],
    ['accelerator not an object', () => cpu.setAccelerators(bad([1])), 'CPU_ACCEL'],
    ['GDT limit past 16 bits', () => cpu.setupLongMode(bad({ gdtBase: 0n, gdtLimit: 0x1_0000 })), 'CPU_SETUP'],
  ];
  for (const [what, fn, code] of cases) t.equal(codeOf(fn), code, what);
  t.equal(cpu.getReg('rax'), 0n, 'the CPU still works');
  cpu.close();
  t.equal(
    codeOf(() => cpu.getReg('rax')),
    'CPU_CLOSED',
    'closed',
  );
  ram.close();
  t.end();
});

t.test('compression, the file writer, flock', NATIVE, (t) => {
  const addon = loadNative();
  const fd = openSync(devNull, 'r');
  t.teardown(() => closeSync(fd));
  const z = new addon.Compressor('gzip');
  const writer = new addon.FileWriter(fd, 1 << 20);
  const cases: [string, () => unknown, string][] = [
    ['unknown kind', () => new addon.Compressor(bad('lz4')), 'DUMP_BAD_VALUE'],
    ['maxChunk 0', () => new addon.Decompressor('zstd', { maxChunk: 0 }), 'DUMP_BAD_VALUE'],
    ['maxTotal negative', () => new addon.Decompressor('zstd', { maxChunk: 1, maxTotal: -1n }), 'DUMP_BAD_VALUE'],
    ['input a string', () => z.update(bad('bytes')), 'DUMP_BAD_VALUE'],
    ['writer fd a string', () => new addon.FileWriter(bad('1'), 1 << 20), 'DUMP_BAD_VALUE'],
    ['write position negative', () => writer.write(new Uint8Array(1), -1), 'DUMP_BAD_VALUE'],
    ['flock fd a string', () => addon.flock(bad('3'), 'exclusive'), 'NATIVE_INTERNAL'],
    ['flock mode', () => addon.flock(fd, bad('sideways')), 'NATIVE_INTERNAL'],
  ];
  for (const [what, fn, code] of cases) t.equal(codeOf(fn), code, what);
  writer.abort();
  z.close();
  t.end();
});

t.test('callNative maps the codes to KbootErrors', NATIVE, (t) => {
  const addon = loadNative();
  const ram = new addon.GuestRam([{ base: 0x1000n, size: 0x1000n }]);
  throwsCode(t, () => callNative(() => ram.read(-1n, 1n)), MemoryCode.GuestRange);
  throwsCode(t, () => callNative(() => addon.flock(bad('3'), 'exclusive')), NativeCode.Internal);
  ram.close();
  t.end();
});
