// `kboot compare` for real on both arches (in-process): amd64-efi with --json and --svg, the
// JSON valid against schemas/compare.schema.json; arm64-fdt as the terminal table. Checks the
// issue's acceptance — embed and KLD armed from SI_SUB_VM_CONF, kexec only from userspace —
// and every measured fact the report carries (memory, copies, jump, dump, replacement,
// faults), plus the command's errors (wrong arch, an existing --svg, a bad seed).
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompareReport, StrategyComparison } from '../../../compare/index.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { validateJson } from '../../../loader/schema.js';
import { HOST_PHASES } from '../../../machine/host/timeline.js';
import { nativeAvailable } from '../../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-compare-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'amd64.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
writeFileSync(join(dir, 'arm64.elf'), buildProbeKernel('arm64', { mode: 'rescue', uartBase: 0x0900_0000n }));

/** A profile may take this long on a loaded 2-core machine; alone it takes ~15 s (the target is < 60 s). */
const PROFILE_BUDGET_MS = 90_000;

async function kboot(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

function byStrategy(r: CompareReport): Record<string, StrategyComparison> {
  const p = r.profiles[0];
  return Object.fromEntries((p?.strategies ?? []).map((s) => [s.strategy, s]));
}

t.test('amd64-efi: --json is schema-valid and carries the measurements', { skip }, async (t) => {
  const r = await kboot('--json', 'compare', 'amd64.elf', '--machine', 'amd64-efi', '--svg', 'amd64.svg');
  t.equal(r.code, Exit.Ok, r.code === Exit.Ok ? 'exit 0' : r.err);
  t.equal(r.err, '', 'no progress lines with --json');
  const report = JSON.parse(r.out) as CompareReport;
  t.same(validateJson('compare', report), [], 'valid against compare.schema.json');
  t.same(report.phases, HOST_PHASES);
  t.equal(report.kernel.arch, 'amd64');
  t.equal(report.kernel.probe, true);
  t.equal(report.profiles.length, 1);
  const p = report.profiles[0];
  if (p === undefined) return;
  t.equal(p.machine, 'amd64-efi');
  t.ok(p.elapsedMs < PROFILE_BUDGET_MS, `the profile took ${(p.elapsedMs / 1000).toFixed(1)} s`);
  t.ok(p.sessions >= HOST_PHASES.length * 3, `${p.sessions} sessions: a panic per phase per strategy`);
  const s = byStrategy(report);
  const embed = s['embed'];
  const kld = s['kld'];
  const kexec = s['kexec'];
  if (embed === undefined || kld === undefined || kexec === undefined) return;
  // the acceptance: embed/KLD from SI_SUB_VM_CONF, kexec only from userspace
  t.equal(embed.armedFrom, 'SI_SUB_VM_CONF');
  t.equal(kld.armedFrom, 'SI_SUB_VM_CONF');
  t.equal(kexec.armedFrom, 'init');
  t.equal(kexec.userspaceOnly, true);
  t.equal(embed.userspaceOnly || kld.userspaceOnly, false);
  for (const c of [embed, kld, kexec]) {
    const from = HOST_PHASES.indexOf(c.armedFrom ?? 'running');
    t.same(
      c.phases.map((x) => x.rescued),
      HOST_PHASES.map((_, i) => i >= from),
      `${c.strategy}: rescued exactly from ${c.armedFrom ?? '?'} on`,
    );
    t.equal(c.memory.reservedBytes, p.reservation.size, `${c.strategy}: the same reservation`);
    t.equal(c.jump.rescued, true);
    t.equal(c.jump.stop, 'reached');
    t.ok(c.jump.instructions > 0, `${c.strategy}: ${c.jump.instructions} instructions from panic to entry`);
    t.equal(c.copies.panicBytes, 0, `${c.strategy}: nothing copied at the panic`);
    t.ok(c.copies.panicTableBytes > 0, `${c.strategy}: page tables written at the panic`);
    t.same(c.jump.probe && { complete: c.jump.probe.complete, ok: c.jump.probe.checksumOk }, {
      complete: true,
      ok: true,
    });
    t.equal(c.dump.status, 'good');
    t.equal(c.dump.size, p.dump.size, `${c.strategy}: the same minidump size`);
    t.ok(c.dump.pages > 0);
    const outcome = Object.fromEntries(c.faults.map((f) => [f.fault, f.outcome]));
    t.same(outcome, { dma: 'survived', its: 'n/a', 'corrupt-segment': 'detected', 'stray-write': 'detected' });
    t.same([c.faultsHandled, c.faultsApplicable], [3, 3]);
  }
  t.ok(embed.memory.kernelImageGrowth !== null && embed.memory.kernelImageGrowth >= report.kernel.size);
  t.ok(embed.memory.kernelFileGrowth !== null && embed.memory.kernelFileGrowth >= report.kernel.size);
  t.equal(kld.memory.kernelImageGrowth, null);
  t.equal(kexec.memory.kernelImageGrowth, null);
  t.equal(kld.memory.transientBytes, 0x4000, 'KLD: the module, page-rounded');
  t.equal(kexec.memory.transientBytes, kexec.copies.loadBytes, 'kexec: the userspace buffer is what it loads');
  t.ok(kexec.copies.loadBytes > report.kernel.size);
  t.equal(kexec.copies.bootBytes, 0);
  t.equal(embed.copies.loadBytes + kld.copies.loadBytes, 0);
  t.ok(kld.copies.bootBytes > report.kernel.size && embed.copies.bootBytes === kld.copies.bootBytes);
  t.match(kexec.replace, { withoutReboot: true, needs: 'nothing', done: true, rescuedAfter: true });
  t.match(kld.replace, { withoutReboot: false, needs: 'reboot', done: false });
  t.match(embed.replace, { withoutReboot: false, needs: 'rebuild', done: false });
  const corrupt = kexec.faults.find((f) => f.fault === 'corrupt-segment');
  t.match(corrupt?.detail, /purgatory refused the jump: changed since arming: kernel amd64\.elf/);
  t.match(kexec.faults.find((f) => f.fault === 'stray-write')?.detail, /stopped by the machine's write protection/);
  const svg = readFileSync(join(dir, 'amd64.svg'), 'utf8');
  for (const name of ['embed', 'KLD', 'kexec', ...HOST_PHASES]) t.match(svg, `>${name}<`, `the SVG names ${name}`);
});

t.test('arm64-fdt: the table', { skip }, async (t) => {
  const r = await kboot('compare', 'arm64.elf', '-m', 'arm64-fdt', '--seed', '3');
  t.equal(r.code, Exit.Ok, r.code === Exit.Ok ? 'exit 0' : r.err);
  t.match(r.err, /compare: arm64-fdt embed: a panic at each of 9 boot phases\n/, 'progress on stderr');
  t.match(
    r.out,
    /^kboot compare: arm64\.elf \(arm64 probe kernel, [\d.]+ KiB\) on arm64-fdt: \d+ sessions in [\d.]+ s\n/,
  );
  t.match(r.out, /\narmed from\s+SI_SUB_VM_CONF\s+SI_SUB_VM_CONF\s+init \(userspace\)\n/);
  t.match(r.out, /\n {2}panic at mountroot\s+✓ rescued\s+✓ rescued\s+✗\n/);
  t.match(r.out, /\n {2}panic at SI_SUB_VM\s+✗\s+✗\s+✗\n/);
  t.match(r.out, /\nfault: GICv3 ITS still writing\s+✓ survived\s+✓ survived\s+✓ survived\n/);
  t.match(r.out, /\nfault: DMA into host pages\s+✓ survived\s+✓ survived\s+✓ survived\n/);
  t.match(
    r.out,
    /\nreplace rescue kernel, no reboot\s+✗ rebuild \([\d.]+ m?s\)\s+✗ reboot \([\d.]+ m?s\)\s+✓ unload\+load/,
  );
  t.match(r.out, /\nfaults handled\s+4\/4\s+4\/4\s+4\/4\n/);
  t.match(r.out, /\nGICv3 ITS live at the panic\s+✓ fdt \(none: ✗\)\s+✓ fdt \(none: ✗\)\s+✓ fdt \(none: ✗\)\n/);
  t.match(
    r.out,
    /\n {4}kexec: none: panic "gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved"; fdt: reuse-ok\n/,
  );
  t.notOk(existsSync(join(dir, 'arm64.svg')), 'no SVG unless asked');
});

t.test('errors: wrong arch, existing --svg, bad seed, missing kernel', async (t) => {
  const wrong = await kboot('--json', 'compare', 'amd64.elf', '--machine', 'arm64-fdt');
  t.equal(wrong.code, Exit.Usage, 'a usage error exits 2');
  t.match(JSON.parse(wrong.out), { error: { code: 'CLI_USAGE' } });
  writeFileSync(join(dir, 'taken.svg'), 'mine');
  const taken = await kboot('--json', 'compare', 'amd64.elf', '--svg', 'taken.svg');
  t.match(JSON.parse(taken.out), { error: { code: 'IO_EXISTS', details: { reason: 'EEXIST' } } });
  t.equal(readFileSync(join(dir, 'taken.svg'), 'utf8'), 'mine', 'left alone');
  for (const seed of ['-1', 'x', '1.5', '4294967296', '']) {
    const bad = await kboot('--json', 'compare', 'amd64.elf', '--seed', seed);
    t.match(JSON.parse(bad.out), { error: { code: 'CLI_USAGE' } }, `--seed "${seed}"`);
  }
  const missing = await kboot('compare', 'nope.elf');
  t.equal(missing.code, Exit.Failure);
  t.match(missing.err, /^kboot: io: rescue kernel nope\.elf does not exist\n$/);
  const mj = await kboot('--json', 'compare', 'nope.elf');
  t.match(JSON.parse(mj.out), { error: { code: 'IO_NOT_FOUND', details: { reason: 'ENOENT' } } });
  const unknown = await kboot('--json', 'compare', 'amd64.elf', '--machine', 'no-such-machine');
  t.match(JSON.parse(unknown.out), { error: { code: 'CONFIG_NOT_FOUND' } });
});
