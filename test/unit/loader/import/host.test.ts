// `--host`: sysprobe/read.ts reads a Linux root (here a copy of this machine's
// /sys/firmware/memmap and /proc/iomem under a temporary directory, and an arm64 root with a
// DTB whose /memory the EFI stub removed) and a FreeBSD host through an injected sysctl
// runner; loader/import/host.ts picks the source. Also the rules answered for the built-in
// machines, which the planner's own tests cover by other means.
import t from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFdt, writeFdt } from '../../../../loader/handoff/fdt/index.js';
import { buildImportedProfile, importHost, rescueRules, ImportCode } from '../../../../loader/import/index.js';
import { packagePath } from '../../../../loader/paths.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { readHostSnapshot, readMemmapDir, type InputRecord } from '../../../../sysprobe/read.js';
import { efiMapBinary } from '../../../helpers/freebsd-maps.js';
import { throwsCode } from '../../../helpers/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'kboot-host-import-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

function linuxRoot(name: string, files: Record<string, string | Uint8Array>, memmap: boolean): string {
  const root = join(tmp, name);
  if (memmap)
    cpSync(packagePath('test', 'fixtures', 'memmap', 'this-machine'), join(root, 'sys/firmware/memmap'), {
      recursive: true,
    });
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
}

const iomem = readFileSync(packagePath('test', 'fixtures', 'iomem', 'this-machine.txt'), 'utf8');

t.test('Linux/amd64: memmap first, iomem for devices and Crash kernel', async (t) => {
  const crash = iomem.replace(
    '  01000000-0225b13f : Kernel code',
    '  01000000-0225b13f : Kernel code\n  20000000-2fffffff : Crash kernel',
  );
  const root = linuxRoot('amd64', { 'proc/iomem': crash }, true);
  const { snapshot, inputs } = readHostSnapshot({ platform: 'linux', arch: 'x64', root });
  t.equal(snapshot.efi, false);
  t.equal(
    inputs.filter((i) => i.kind === 'memmap').length,
    15,
    'start, end and type of 5 entries, each with its SHA-256',
  );
  t.ok(inputs.every((i) => /^[0-9a-f]{64}$/.test(i.sha256)));
  const f = importHost(snapshot);
  t.equal(f.source, 'host');
  t.equal(f.firmware, 'bios');
  t.same(
    f.ram.map((r) => r.start),
    [0n, 0x10_0000n, 0x1_0000_0000n],
    'the firmware map (memmap), not the kernel-changed iomem',
  );
  t.same(f.crashKernel, { start: 0x2000_0000n, size: 0x1000_0000n });
  t.ok(f.mmio.some((m) => m.name === 'IOAPIC 0'));
  t.ok(f.assumptions.some((a) => a.code === 'HOST_SOURCES'));
  const efiRoot = linuxRoot('amd64-efi', { 'proc/iomem': iomem, 'sys/firmware/efi/systab': 'x' }, true);
  t.equal(importHost(readHostSnapshot({ platform: 'linux', arch: 'x64', root: efiRoot }).snapshot).firmware, 'efi');
  const bare = linuxRoot('amd64-bare', {}, false);
  throwsCode(
    t,
    () => importHost(readHostSnapshot({ platform: 'linux', arch: 'x64', root: bare }).snapshot),
    ImportCode.Host,
  );
});

t.test('Linux/arm64: /sys/firmware/fdt without /memory takes RAM from iomem', async (t) => {
  const board = parseFdt(readFileSync(packagePath('test', 'fixtures', 'dtb', 'qemu-virt-gicv3-its.dtb')));
  const noMemory = writeFdt({
    ...board,
    root: { ...board.root, children: board.root.children.filter((c) => !c.name.startsWith('memory')) },
  });
  const root = linuxRoot(
    'arm64',
    {
      'sys/firmware/fdt': noMemory,
      'proc/iomem':
        '40000000-bfffffff : System RAM\n  40210000-41ffffff : Kernel code\n09000000-09000fff : pl011@9000000\n',
    },
    false,
  );
  const f = importHost(readHostSnapshot({ platform: 'linux', arch: 'arm64', root }).snapshot);
  t.equal(f.arch, 'arm64');
  t.equal(f.firmware, 'fdt');
  t.same(
    f.ram.map((r) => [r.start, r.size]),
    [[0x4000_0000n, 0x8000_0000n]],
  );
  t.equal(f.gic?.its.length, 1);
  t.ok(f.assumptions.some((a) => a.code === 'MEMORY_FROM_OPTION'));
});

t.test('FreeBSD: sysctl -b machdep.efi_map through the runner, else machdep.smap', async (t) => {
  const calls: string[] = [];
  const run = (file: string, args: readonly string[]): Uint8Array => {
    calls.push(`${file} ${args.join(' ')}`);
    if (args.includes('machdep.efi_map')) return efiMapBinary();
    if (args.includes('hw.ncpu')) return Buffer.from('12\n');
    throw new Error('unknown oid');
  };
  const { snapshot, inputs } = readHostSnapshot({ platform: 'freebsd', arch: 'x64', run });
  t.same(calls, ['/sbin/sysctl -b machdep.efi_map', '/sbin/sysctl -n hw.ncpu'], 'no shell, read-only oids');
  t.same(
    inputs.map((i) => i.kind),
    ['sysctl', 'sysctl'],
  );
  const f = importHost(snapshot);
  t.equal(f.firmware, 'efi');
  t.equal(f.cpus, 12);
  const nothing = readHostSnapshot({
    platform: 'freebsd',
    arch: 'x64',
    run: () => {
      throw new Error('sysctl: unknown oid');
    },
  });
  t.equal(nothing.snapshot.cpus, 1, 'hw.ncpu unreadable: 1');
  throwsCode(t, () => importHost(nothing.snapshot), ImportCode.Host, 'neither map: IMPORT_HOST');
  throwsCode(t, () => readHostSnapshot({ platform: 'darwin', arch: 'x64' }), ImportCode.Unsupported);
  throwsCode(t, () => readHostSnapshot({ platform: 'linux', arch: 'riscv64' }), ImportCode.Unsupported);
});

t.test('readMemmapDir: numeric order, recorded inputs, missing and empty directories', async (t) => {
  const records: InputRecord[] = [];
  const entries = readMemmapDir(packagePath('test', 'fixtures', 'memmap', 'this-machine'), records);
  t.same(
    entries.map((e) => e.name),
    ['0', '1', '2', '3', '4'],
  );
  t.equal(records.length, 15);
  throwsCode(t, () => readMemmapDir(join(tmp, 'nope'), []), 'IO_NOT_FOUND');
  mkdirSync(join(tmp, 'empty'));
  throwsCode(t, () => readMemmapDir(join(tmp, 'empty'), []), ImportCode.NoMemory);
});

t.test('the rules for the built-in machines', async (t) => {
  const status = (name: string): Record<string, string> =>
    Object.fromEntries(rescueRules(loadProfile(name)).rules.map((r) => [r.rule, r.status]));
  t.match(
    status('amd64-efi'),
    { 'below-4g': 'ok', 'firmware-map-filtering': 'warning', 'memory-reg-inplace': 'not-applicable' },
    'amd64 keeps the RAM descriptor at PA 0 as RAM',
  );
  t.match(status('amd64-bios'), { 'firmware-map-filtering': 'ok', 'metadata-fits': 'ok' });
  t.match(status('arm64-fdt'), {
    'memory-reg-inplace': 'ok',
    'single-memory-node': 'ok',
    'its-tables-live': 'warning',
  });
  t.match(status('arm64-acpi'), { 'its-tables-live': 'warning', 'firmware-map-filtering': 'ok' });
  // a machine whose free RAM is all above 4 GiB: amd64 fails, arm64 warns
  const p = buildImportedProfile(
    {
      ...importHost(
        readHostSnapshot({ platform: 'linux', arch: 'x64', root: linuxRoot('hi', { 'proc/iomem': iomem }, true) })
          .snapshot,
      ),
    },
    { name: 'x', command: 'test', inputs: [] },
  ).profile;
  t.equal(rescueRules(p).rules.length, 7);
});
