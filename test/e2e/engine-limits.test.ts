// No native aborts (issue 13 item 2): every limit of the CPU engine (machine/cpu/limits.ts:
// Unicorn 2.0.1's region count - qemu/exec.c phys_section_add aborts the process at 4096 -,
// window sizes, the top of the address space) is crossed on purpose and must come back as
// MachineError(CPU_LIMIT) with the numbers. Each case runs in a child process, so a
// regression that aborts (SIGABRT) fails this test instead of killing tap.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { packagePath } from '../../loader/paths.js';
import { nativeAvailable } from '../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dist = (p: string): string => JSON.stringify(packagePath('dist', p));

/** Runs `body` (an ES module body that prints one JSON line) in a fresh node. */
function child(body: string, timeoutMs = 120_000): { status: number | null; signal: string | null; out: unknown } {
  const script = `
    import { phys, kva, size } from ${dist('loader/addr.js')};
    import { NativeRam } from ${dist('machine/native-ram.js')};
    import { Cpu } from ${dist('machine/cpu/index.js')};
    import { KbootError } from ${dist('loader/errors.js')};
    const caught = (fn) => { try { fn(); return { ok: true }; } catch (e) {
      return e instanceof KbootError ? { code: e.code, details: e.details } : { raw: String(e) }; } };
    const big = (v) => typeof v === 'bigint' ? v.toString() : v;
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: unknown;
  try {
    out = JSON.parse(line);
  } catch {
    out = { stdout: r.stdout, stderr: r.stderr };
  }
  return { status: r.status, signal: r.signal, out };
}

t.test('region count: the alias past MAX_WINDOWS is CPU_LIMIT, not qemu/exec.c:837', { skip }, (t) => {
  const r = child(`
    const ram = new NativeRam([{ base: phys(0), size: size(0x100_0000) }]);
    const cpu = new Cpu('amd64', ram, { shadow: false });
    let mapped = 0;
    let err;
    for (let i = 0n; i < 5000n; i++) {
      const res = caught(() => cpu.mapAlias(kva(0x10_0000_0000n + i * 0x2000n), phys(0x1000n), size(0x1000n)));
      if (!res.ok) { err = res; break; }
      mapped++;
    }
    console.log(JSON.stringify({ mapped, regions: cpu.mappings().windows.length, err }, (k, v) => big(v)));`);
  t.same([r.status, r.signal], [0, null], 'the process ended normally');
  const out = r.out as { mapped: number; regions: number; err?: { code: string; details: Record<string, unknown> } };
  t.equal(out.err?.code, 'CPU_LIMIT');
  t.same([out.err?.details['max'], out.err?.details['abortsAt']], [1024, 4096], 'the numbers');
  t.equal(out.regions, 1024, 'RAM (1 region) + 1023 aliases');
  t.end();
});

t.test('window size and the top page: CPU_LIMIT before Unicorn is asked', { skip }, (t) => {
  const r = child(`
    const ram = new NativeRam([{ base: phys(0), size: size(0x2000_0000) }]);
    const cpu = new Cpu('amd64', ram, { shadow: false });
    const tooBig = caught(() => cpu.mapAlias(kva(0x100_0000_0000n), phys(0), size(0x1000_1000n)));
    const top = caught(() => cpu.mapAlias(kva(0xffff_ffff_ffff_f000n), phys(0), size(0x1000n)));
    const below = caught(() => cpu.mapAlias(kva(0xffff_ffff_ffff_e000n), phys(0), size(0x1000n)));
    console.log(JSON.stringify({ tooBig, top, below }, (k, v) => big(v)));`);
  t.same([r.status, r.signal], [0, null]);
  const out = r.out as Record<string, { code?: string; ok?: boolean; details?: Record<string, unknown> }>;
  t.equal(out['tooBig']?.code, 'CPU_LIMIT');
  t.equal(out['tooBig']?.details?.['size'], String(0x1000_1000n));
  t.equal(out['top']?.code, 'CPU_LIMIT');
  t.equal(out['top']?.details?.['limit'], String((1n << 64n) - 0x1000n));
  t.equal(out['below']?.ok, true, 'the page below the top maps');
  t.end();
});

t.test(
  'all RAM of a 1 TiB machine mapped eagerly (shadow: false) is CPU_LIMIT; the lazy shadow runs',
  { skip },
  (t) => {
    const r = child(`
    const regions = [{ base: phys(0), size: size(0x80_0000_0000n) }, { base: phys(0x100_0000_0000n), size: size(0x80_0000_0000n) }];
    const ram = new NativeRam(regions);
    const eager = caught(() => new Cpu('amd64', ram, { shadow: false }));
    const cpu = new Cpu('amd64', ram);
    // paging off: touch the first and the last page of each region
    const code = Uint8Array.from([0x8a, 0x00, 0x8a, 0x03, 0x8a, 0x01, 0x8a, 0x02, 0xf4]); // mov (%rax),%al; (%rbx); (%rcx); (%rdx); hlt
    ram.write(phys(0x1000n), code);
    cpu.setReg('rax', 0x7f_ffff_f000n);
    cpu.setReg('rbx', 0x100_0000_0000n);
    cpu.setReg('rcx', 0x17f_ffff_f000n);
    cpu.setReg('rdx', 0x10n);
    const stop = cpu.run({ start: 0x1000n, maxInstructions: 100, timeoutMs: 10000 });
    console.log(JSON.stringify({ eager, stop: stop.kind, windows: cpu.mappings().windows.length }, (k, v) => big(v)));`);
    t.same([r.status, r.signal], [0, null]);
    const out = r.out as { eager: { code?: string; details?: Record<string, unknown> }; stop: string; windows: number };
    t.equal(out.eager.code, 'CPU_LIMIT');
    t.equal(out.eager.details?.['regions'], 4096, '4096 chunks of 256 MiB');
    t.equal(out.stop, 'halted', 'the lazy shadow maps only what was touched');
    t.ok(out.windows <= 4, `${out.windows} windows`);
    t.end();
  },
);
