// preloadDecisions: the boot loader's decisions from a parsed loader.conf — kernel search,
// module order with _before/_after, the rescue kernel, the sorted kenv — and its errors, each
// made by changing one line of a good configuration. The kenv is checked by encoding it and
// reading it back with kboot's kenv decoder.
import t from 'tap';
import { ConfigCode } from '../../../../loader/errors.js';
import { decodeKenv, encodeKenv } from '../../../../loader/handoff/kenv.js';
import { decodeModinfo, encodeModinfo, groupModules } from '../../../../loader/handoff/modinfo.js';
import {
  effectiveModulePath,
  moduleCandidates,
  parseLoaderConf,
  preloadDecisions,
  preloadedModuleRecord,
  RESCUE_KERNEL_MODULE_TYPE,
  splitCommandLine,
  type BootDecisions,
  type PreloadOptions,
} from '../../../../loader/preload/index.js';
import { throwsCode } from '../../../helpers/errors.js';

const FILE = '/cfg/loader.conf';
const GOOD: readonly string[] = [
  'kernel="GENERIC"',
  'module_path="/boot/modules;/boot/dtb"',
  'zfs_load="YES"',
  'debug.rescue_minidump="1"',
  'rescue_load="YES"',
  'rescue_type="rescue_kernel"',
  'rescue_name="/boot/rescue/kernel"',
  'if_em_load="YES"',
  'if_em_flags="debug=1 name="a b""',
  'vmm_load="NO"',
  'loader_conf_files="/cfg/none.conf"',
  'hw.physmem="4G"',
  'kernel_options="-v"',
];
const text = (lines: readonly string[]): string => `${lines.join('\n')}\n`;
const decide = (src: string, opts: PreloadOptions = {}): BootDecisions =>
  preloadDecisions(parseLoaderConf(src, FILE), opts);
const withLine = (i: number, line: string): string => text(GOOD.map((l, j) => (j === i ? line : l)));

t.test('the good configuration', (t) => {
  const d = decide(text(GOOD));
  t.same(
    d.modules.map((m) => [m.key, m.name, m.kind, m.type, m.args, m.source.line]),
    [
      ['zfs', 'zfs', 'kld', undefined, undefined, 3],
      ['rescue', '/boot/rescue/kernel', 'raw', RESCUE_KERNEL_MODULE_TYPE, undefined, 5],
      ['if_em', 'if_em', 'kld', undefined, 'debug=1 name=a b', 8],
    ],
    'modules in order of first appearance; flags split as the loader parser does',
  );
  t.equal(d.rescueKernel?.name, '/boot/rescue/kernel');
  t.equal(d.rescueKernel?.rescueKernel, true);
  t.same(
    d.skipped.map((s) => [s.key, s.reason]),
    [['vmm', 'not-enabled']],
  );
  t.same(d.modulePath, ['/boot/modules', '/boot/dtb']);
  t.same(
    d.kenv,
    [
      ['debug.rescue_minidump', '1'],
      ['hw.physmem', '4G'],
      ['kernel', 'GENERIC'],
      ['kernel_options', '-v'],
      ['module_path', '/boot/modules;/boot/dtb'],
    ],
    'sorted by name; module settings and loader_conf_files are not in it',
  );
  t.same(decodeKenv(encodeKenv(d.kenv)), d.kenv, 'encodes as a kenv block and reads back');
  t.same(
    d.steps.map((s) => (s.kind === 'load-module' ? `load ${s.module.key}` : s.kind)),
    ['load-kernel', 'load zfs', 'load rescue', 'load if_em'],
  );
  t.same(
    d.warnings.map((w) => w.code),
    ['INCLUDE_MISSING'],
  );
  t.end();
});

t.test('kernel search (config.lua loadKernel)', (t) => {
  const d = decide(text(GOOD));
  t.equal(d.kernel.kernel?.value, 'GENERIC');
  t.same(d.kernel.bootfiles, ['kernel']);
  t.same(
    d.kernel.candidates.map((c) => [c.path, c.moduleDir]),
    [
      ['/boot/GENERIC/kernel.ko', '/boot/GENERIC'],
      ['/boot/GENERIC/kernel', '/boot/GENERIC'],
      ['/boot/GENERIC/kernel.debug', '/boot/GENERIC'],
      ['GENERIC/kernel.ko', 'GENERIC'],
      ['GENERIC/kernel', 'GENERIC'],
      ['GENERIC/kernel.debug', 'GENERIC'],
      ['GENERIC/GENERIC.ko', undefined],
      ['GENERIC/GENERIC', undefined],
      ['GENERIC/GENERIC.debug', undefined],
    ],
  );
  t.equal(d.kernel.args, '-v', 'kernel_options');
  const first = d.kernel.candidates[0];
  t.ok(first);
  if (first !== undefined) {
    t.same(
      effectiveModulePath(d, first),
      ['/boot/GENERIC', '/boot/modules', '/boot/dtb'],
      'the kernel directory goes first',
    );
  }
  const noKernel = decide('bootfile="mykernel;/boot/k2"\n');
  t.same(noKernel.kernel.bootfiles, ['mykernel', '/boot/k2', 'kernel']);
  t.same(
    noKernel.kernel.candidates.map((c) => c.path).slice(0, 4),
    ['/boot/kernel/mykernel.ko', '/boot/kernel/mykernel', '/boot/kernel/mykernel.debug', '/boot/modules/mykernel.ko'],
    'without kernel=, bootfiles are searched on module_path (default /boot/kernel;/boot/modules)',
  );
  t.ok(
    noKernel.kernel.candidates.some((c) => c.path === '/boot/k2'),
    'a bootfile with a path is used as is',
  );
  t.end();
});

t.test('module search (file_search / mod_load)', (t) => {
  const d = decide(text(GOOD));
  const [zfs, rescue] = d.modules;
  t.ok(zfs !== undefined && rescue !== undefined);
  if (zfs === undefined || rescue === undefined) {
    t.end();
    return;
  }
  t.same(moduleCandidates(zfs, ['/boot/GENERIC', '/boot/modules']), [
    '/boot/GENERIC/zfs.ko',
    '/boot/GENERIC/zfs',
    '/boot/GENERIC/zfs.debug',
    '/boot/modules/zfs.ko',
    '/boot/modules/zfs',
    '/boot/modules/zfs.debug',
  ]);
  t.same(moduleCandidates(rescue, ['/boot/GENERIC']), ['/boot/rescue/kernel'], 'a name with a path is used as is');
  const raw = decide('x_load="YES"\nx_type="md_image"\nx_name="root.img"\n').modules[0];
  t.ok(raw);
  if (raw !== undefined) t.same(moduleCandidates(raw, ['/boot/a/']), ['/boot/a/root.img'], 'raw files: no extensions');
  t.end();
});

t.test('_before and _after place their loads around the module', (t) => {
  const d = decide(
    text([
      'a_load="YES"',
      'b_load="YES"',
      'b_before="load -t boot_entropy_cache /boot/entropy"',
      'b_after="load c_mod arg=1"',
      'b_error="echo failed"',
      'd_load="YES"',
      'd_before="echo hello"',
    ]),
  );
  t.same(
    d.modules.map((m) => [m.name, m.via, m.key, m.source.line]),
    [
      ['a', 'setting', 'a', 1],
      ['/boot/entropy', 'before', 'b', 3],
      ['b', 'setting', 'b', 2],
      ['c_mod', 'after', 'b', 4],
      ['d', 'setting', 'd', 6],
    ],
  );
  t.equal(d.modules[1]?.type, 'boot_entropy_cache');
  t.equal(d.modules[3]?.args, 'arg=1');
  t.equal(d.modules[2]?.onError, 'echo failed', '_error is kept for the load it guards');
  t.same(
    d.steps.map((s) =>
      s.kind === 'load-module' ? s.module.name : s.kind === 'command' ? `${s.phase}: ${s.command}` : s.kind,
    ),
    ['load-kernel', 'a', '/boot/entropy', 'b', 'c_mod', 'before: echo hello', 'd'],
    'a command that is not a load stays in its place, not run',
  );
  t.ok(d.warnings.some((w) => w.code === 'COMMAND_NOT_RUN' && w.source?.line === 7));
  t.end();
});

t.test('exec lines come first and are not run', (t) => {
  const d = decide('m_load="YES"\nexec="echo hi"\n');
  t.same(
    d.steps.map((s) => s.kind),
    ['exec', 'load-kernel', 'load-module'],
  );
  t.end();
});

t.test('_load="YES" # "x": the greedy quote makes it not YES, as in FreeBSD; kboot warns', (t) => {
  const d = decide('m_load="YES" # "x"\n');
  t.same(d.modules, []);
  t.ok(d.warnings.some((w) => w.code === 'LOAD_VALUE' && w.source?.line === 1));
  t.end();
});

t.test('flags with escaped quotes keep the quotes', (t) => {
  const d = decide('m_load="YES"\nm_flags="a=\\"b c\\""\n');
  t.equal(d.modules[0]?.args, 'a="b c"', 'words a="b and c" joined again');
  t.end();
});

t.test('blacklist, _load values, duplicates', (t) => {
  const d = decide(
    text([
      'module_blacklist="drm i915kms"',
      'drm_load="YES"',
      'x_load="yes"',
      'y_load="Yes"',
      'z_load="on"',
      'dup_load="YES"',
      'dup_name="x"',
    ]),
  );
  t.same(
    d.modules.map((m) => m.key),
    ['x', 'y'],
  );
  t.same(
    d.skipped.map((s) => [s.key, s.reason]),
    [
      ['drm', 'blacklisted'],
      ['z', 'not-enabled'],
      ['dup', 'already-loaded'],
    ],
  );
  t.end();
});

t.test('initialEnv reaches the kenv; the configuration overrides it', (t) => {
  const d = decide('a="2"\n', {
    initialEnv: [
      ['a', '1'],
      ['currdev', 'disk0p2:'],
    ],
  });
  t.same(d.kenv, [
    ['a', '2'],
    ['currdev', 'disk0p2:'],
  ]);
  t.end();
});

t.test('warnings: rescue kernel without debug.rescue_minidump, too-long kenv entries', (t) => {
  const d = decide(withLine(3, 'debug.rescue_minidump="0"'));
  t.ok(d.warnings.some((w) => w.code === 'RESCUE_NOT_ENABLED' && w.source?.line === 5));
  const long = decide(`big="${'x'.repeat(300)}"\n`);
  t.ok(long.warnings.some((w) => w.code === 'KENV_TOO_LONG' && w.source?.line === 1));
  t.end();
});

t.test('splitCommandLine', (t) => {
  const at = { file: FILE, line: 1 };
  t.same(splitCommandLine('  load  -t "a b"  c\\ d \'e "f"\'', at), ['load', '-t', 'a b', 'c d', 'e "f"']);
  throwsCode(t, () => splitCommandLine('load "x', at), ConfigCode.BadValue);
  throwsCode(t, () => splitCommandLine('load x\\', at), ConfigCode.BadValue);
  t.end();
});

t.test('errors: one line of the good configuration changed', (t) => {
  const line = (e: { details: Record<string, unknown> } | undefined): unknown => e?.details['line'];
  let e = throwsCode(t, () => decide(withLine(7, 'rescue_flags="-v"')), ConfigCode.Invalid, '_type with _flags');
  t.equal(e?.details['file'], FILE);
  t.equal(line(e), 8, 'the line of the flags setting');
  e = throwsCode(
    t,
    () => decide(withLine(7, 'other_load="YES"\nother_type="rescue_kernel"')),
    ConfigCode.Invalid,
    'two rescue kernels',
  );
  t.equal(line(e), 8, 'the second rescue kernel');
  e = throwsCode(
    t,
    () => decide(withLine(9, 'if_em_before="load -t x /boot/x arg"')),
    ConfigCode.Invalid,
    'load -t with an argument',
  );
  t.equal(line(e), 10);
  e = throwsCode(t, () => decide(withLine(9, 'if_em_after="load -z x"')), ConfigCode.Invalid, 'an unknown load option');
  t.equal(line(e), 10);
  e = throwsCode(t, () => decide(withLine(9, 'if_em_after="load"')), ConfigCode.Invalid, 'load without a file');
  t.equal(line(e), 10);
  e = throwsCode(
    t,
    () => decide(withLine(8, 'if_em_flags="debug=\'1"')),
    ConfigCode.BadValue,
    'unbalanced quote in flags',
  );
  t.equal(line(e), 9);
  t.end();
});

t.test('modinfo records of the loaded modules decode back (handoff/modinfo.ts)', (t) => {
  const d = decide(text(GOOD));
  const [zfs, rescue, em] = d.modules;
  t.ok(zfs !== undefined && rescue !== undefined && em !== undefined);
  if (zfs === undefined || rescue === undefined || em === undefined) {
    t.end();
    return;
  }
  const records = [
    preloadedModuleRecord(rescue, { path: '/boot/rescue/kernel', addr: 0x80_0000n, size: 0x5000n }),
    preloadedModuleRecord(em, {
      path: '/boot/GENERIC/if_em.ko',
      addr: 0x80_5000n,
      size: 0x1000n,
      elfType: 'elf obj module',
    }),
  ];
  const back = groupModules(decodeModinfo(encodeModinfo(records)));
  t.same(
    back.map((m) => [m.name, m.type, m.args, m.addr, m.size]),
    [
      ['/boot/rescue/kernel', RESCUE_KERNEL_MODULE_TYPE, undefined, 0x80_0000n, 0x5000n],
      ['/boot/GENERIC/if_em.ko', 'elf obj module', 'debug=1 name=a b', 0x80_5000n, 0x1000n],
    ],
  );
  t.throws(() => preloadedModuleRecord(zfs, { path: '/boot/zfs.ko', addr: 0n, size: 1n }), 'a KLD needs its ELF type');
  t.end();
});
