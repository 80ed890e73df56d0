// Machine profiles: the built-ins load; every schema and semantic rule reports its problem with a path.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigCode, IoCode } from '../../../../loader/errors.js';
import { INPUT_LIMITS } from '../../../../loader/io/input.js';
import { packagePath } from '../../../../loader/paths.js';
import {
  builtinProfileNames,
  defaultProfileName,
  loadProfile,
  parseProfile,
  profileSource,
} from '../../../../loader/plan/profile.js';
import { throwsCode } from '../../../helpers/errors.js';

const good = JSON.parse(readFileSync(packagePath('profiles', 'arm64-fdt.json'), 'utf8')) as Record<string, unknown>;
const mutate = (f: (p: Record<string, unknown> & { [k: string]: unknown }) => void): string => {
  const p = structuredClone(good);
  f(p);
  return JSON.stringify(p, null, 2);
};

t.test('built-in profiles', (t) => {
  t.same(builtinProfileNames(), ['amd64-bios', 'amd64-efi', 'amd64-server', 'arm64-acpi', 'arm64-fdt', 'arm64-server']);
  for (const n of builtinProfileNames()) {
    const p = loadProfile(n);
    t.equal(p.name, n);
    t.equal(p.source, `builtin:${n}`);
    t.ok(p.ram.reduce((s, r) => s + r.size, 0n) >= 4n << 30n, `${n} has several GiB of RAM`);
    t.ok(
      p.hostKernel.kenv.some(([k, v]) => k === 'debug.rescue_minidump' && v === '1'),
      `${n} enables the rescue dumper`,
    );
  }
  t.equal(defaultProfileName('amd64'), 'amd64-efi');
  t.equal(defaultProfileName('arm64'), 'arm64-fdt');
  const fdt = loadProfile('arm64-fdt');
  t.equal(fdt.gic?.tables.length, 8, 'conf + 4 pending + 3 ITS tables');
  t.equal(fdt.gic?.tables[1]?.range.size, 9216n, 'LPI pending table is (65536 + 8192) / 8 bytes');
  t.end();
});

t.test('syntax errors carry line and column', (t) => {
  const e = throwsCode(t, () => parseProfile('{\n  "name": "x",\n  oops\n}', 'bad.json'), ConfigCode.Syntax);
  t.equal(e?.details['line'], 3);
  t.ok(Number(e?.details['column']) >= 1);
  t.end();
});

t.test('schema problems are all reported with their JSON paths', (t) => {
  const e = throwsCode(
    t,
    () =>
      parseProfile(
        mutate((p) => {
          p['arch'] = 'mips';
          p['cpus'] = 0;
          p['bogus'] = true;
        }),
        'p.json',
      ),
    ConfigCode.Schema,
  );
  const paths = (e?.details['problems'] as { path: string }[]).map((p) => p.path);
  t.ok(paths.includes('/arch'));
  t.ok(paths.includes('/cpus'));
  t.ok(paths.includes(''), 'the unknown property is reported at the root');
  throwsCode(
    t,
    () =>
      parseProfile(
        mutate((p) => void (p['firmware'] = 'bios')),
        'p.json',
      ),
    ConfigCode.Schema,
    'arm64 has no BIOS',
  );
  throwsCode(
    t,
    () =>
      parseProfile(
        mutate((p) => void delete p['gic']),
        'p.json',
      ),
    ConfigCode.Schema,
    'arm64 needs its GIC',
  );
  throwsCode(
    t,
    () =>
      parseProfile(
        mutate((p) => void (p['ram'] = [{ base: '0x40000000', size: 'lots' }])),
        'p.json',
      ),
    ConfigCode.Schema,
  );
  t.end();
});

t.test('semantic rules', (t) => {
  const cases: [string, (p: Record<string, unknown>) => void, string][] = [
    ['misaligned RAM', (p) => void (p['ram'] = [{ base: '0x40000800', size: '8G' }]), '/ram/0'],
    [
      'overlapping RAM',
      (p) =>
        void (p['ram'] = [
          { base: '0x40000000', size: '8G' },
          { base: '0x80000000', size: '1G' },
        ]),
      '/ram/1',
    ],
    [
      'kernel outside RAM',
      (p) => void ((p['hostKernel'] as Record<string, unknown>)['loadAddress'] = '0x20000000'),
      '/hostKernel',
    ],
    [
      'kernel misaligned',
      (p) => void ((p['hostKernel'] as Record<string, unknown>)['loadAddress'] = '0x40300000'),
      '/hostKernel/loadAddress',
    ],
    ['MMIO over RAM', (p) => void (p['mmio'] = [{ name: 'x', base: '0x40000000', size: '0x1000' }]), '/mmio/0'],
    [
      'ITS table misaligned',
      (p) => void ((p['gic'] as Record<string, unknown>)['lpiConfTable'] = '0x23ff01000'),
      '/gic',
    ],
    ['pending tables per CPU', (p) => void (p['cpus'] = 2), '/gic/lpiPendTables'],
    [
      'overlapping reserved',
      (p) =>
        void (p['reserved'] = [
          { name: 'a', kind: 'reserved', base: '0x40000000', size: '0x2000' },
          { name: 'b', kind: 'reserved', base: '0x40001000', size: '0x1000' },
        ]),
      '/reserved/1',
    ],
  ];
  for (const [what, f, path] of cases) {
    const e = throwsCode(t, () => parseProfile(mutate(f), 'p.json'), ConfigCode.Invalid, what);
    t.ok(
      (e?.details['problems'] as { path: string }[]).some((p) => p.path === path),
      `${what}: reported at ${path}`,
    );
  }
  const amd = JSON.parse(readFileSync(packagePath('profiles', 'amd64-efi.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  amd['hostKernel'] = { ...amd['hostKernel'], loadAddress: '0x100000000' };
  throwsCode(t, () => parseProfile(JSON.stringify(amd), 'a.json'), ConfigCode.Invalid, 'amd64 kernel above 4 GiB');
  t.end();
});

t.test('loadProfile errors', (t) => {
  throwsCode(t, () => loadProfile('no-such-profile'), ConfigCode.NotFound);
  throwsCode(t, () => loadProfile('/nonexistent/dir/p.json'), ConfigCode.NotFound);
  t.end();
});

t.test('loadProfile reads files through the bounded opener, relative to cwd', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-profile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // without the opener, /dev/zero is read until memory runs out and a FIFO blocks forever
  const zero = throwsCode(t, () => loadProfile('/dev/zero'), IoCode.NotRegular, '/dev/zero');
  t.equal(zero?.details['kind'], 'character device');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  throwsCode(t, () => loadProfile('fifo', { cwd: dir }), IoCode.NotRegular, 'a FIFO');
  throwsCode(t, () => loadProfile(dir), IoCode.NotRegular, 'a directory');
  writeFileSync(join(dir, 'huge.json'), Buffer.alloc(INPUT_LIMITS.profile + 1, 0x20));
  throwsCode(t, () => loadProfile('huge.json', { cwd: dir }), IoCode.TooLarge, 'over INPUT_LIMITS.profile');
  writeFileSync(join(dir, 'mine.json'), readFileSync(packagePath('profiles', 'arm64-fdt.json')));
  t.equal(loadProfile('mine.json', { cwd: dir }).name, loadProfile('arm64-fdt').name, 'relative to cwd');
  t.same(profileSource('amd64-efi', dir), { kind: 'builtin', name: 'amd64-efi' });
  t.same(profileSource('mine.json', dir), { kind: 'file', path: join(dir, 'mine.json') });
  t.end();
});
