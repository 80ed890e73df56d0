// loader.conf parser: one test per line form of config.lua's pattern table, the value rules
// (processEnvVar), includes, and one test per error code — each built by changing ONE line of
// a good configuration and asserting the code plus the file and line in `details`.
import t, { type Test } from 'tap';
import { ConfigCode, type KbootError } from '../../../../loader/errors.js';
import {
  confEnv,
  parseLoaderConf,
  parseLoaderConfLines,
  type ConfFileText,
  type ConfResolver,
  type LoaderConf,
  type LoaderConfOptions,
} from '../../../../loader/preload/index.js';
import { throwsCode } from '../../../helpers/errors.js';

const FILE = '/cfg/loader.conf';

/** A good configuration; tests replace one line. */
const GOOD: readonly string[] = [
  '# kboot test configuration',
  '',
  'kernel="kernel"\t\t# /boot sub-directory',
  'hw.physmem=1G',
  'debug.rescue_minidump="1"',
  'rescue_load="YES"',
  'rescue_type="rescue_kernel"',
  'rescue_name="/boot/rescue/kernel"',
  'if_em_load=YES',
  'vfs.root.mountfrom="ufs:/dev/ada0p2"',
];

const text = (lines: readonly string[]): string => `${lines.join('\n')}\n`;
const withLine = (i: number, line: string): string => text(GOOD.map((l, j) => (j === i ? line : l)));
const parse = (src: string, opts: LoaderConfOptions = {}): LoaderConf => parseLoaderConf(src, FILE, opts);

/** An in-memory file system for includes. */
function memfs(files: Record<string, string>, real: Record<string, string> = {}): ConfResolver {
  return {
    read(path: string): ConfFileText | undefined {
      const body = files[path];
      if (body === undefined) return undefined;
      const r = real[path];
      return r === undefined ? { text: body } : { text: body, realPath: r };
    },
    listFiles(dir: string): readonly string[] | undefined {
      const prefix = `${dir}/`;
      const names = Object.keys(files)
        .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
        .map((p) => p.slice(prefix.length));
      return names.length === 0 ? undefined : names;
    },
  };
}

function errorAt(
  t: Test,
  fn: () => unknown,
  code: string,
  file: string,
  line: number,
  msg?: string,
): KbootError | undefined {
  const e = throwsCode(t, fn, code, msg);
  t.equal(e?.details['file'], file, `${msg ?? code}: file`);
  t.equal(e?.details['line'], line, `${msg ?? code}: line`);
  t.match(e?.message ?? '', /^config: /, 'message starts with the domain');
  return e;
}

t.test('the good configuration', (t) => {
  const c = parse(text(GOOD));
  t.same(c.files, [FILE]);
  t.same(
    c.env.map((v) => [v.name, v.value, v.source.line]),
    [
      ['kernel', 'kernel', 3],
      ['hw.physmem', '1G', 4],
      ['debug.rescue_minidump', '1', 5],
      ['vfs.root.mountfrom', 'ufs:/dev/ada0p2', 10],
    ],
    'environment variables with their lines; module settings stay out',
  );
  t.same(
    c.modules.map((m) => [m.key, m.firstSource.line, Object.keys(m.settings)]),
    [
      ['rescue', 6, ['load', 'type', 'name']],
      ['if_em', 9, ['load']],
    ],
  );
  t.equal(c.modules[0]?.settings.name?.value, '/boot/rescue/kernel');
  t.same(c.warnings, []);
  t.equal(confEnv(c, 'debug.rescue_minidump'), '1', 'debug.rescue_minidump is a tunable');
  t.end();
});

t.test('line forms', async (t) => {
  t.test('comments, blank and white-space lines produce nothing', (t) => {
    t.same(parseLoaderConfLines('# one\n\n   \t\n  # two "quoted"\n\r\n', FILE), []);
    t.end();
  });
  t.test('name="value" (quoted)', (t) => {
    t.same(parseLoaderConfLines('kern.hz="100"', FILE), [
      {
        kind: 'env',
        name: 'kern.hz',
        raw: '100',
        parts: [{ kind: 'text', text: '100' }],
        quoted: true,
        source: { file: FILE, line: 1 },
      },
    ]);
    t.end();
  });
  t.test('name=word (unquoted: [-A-Za-z0-9][-A-Za-z0-9_.]*)', (t) => {
    const c = parse('hw.physmem=4G\nboot_verbose=-v\nx=1.2_3\n');
    t.same(
      c.env.map((v) => [v.name, v.value]),
      [
        ['hw.physmem', '4G'],
        ['boot_verbose', '-v'],
        ['x', '1.2_3'],
      ],
    );
    t.end();
  });
  t.test('white space around = and a trailing comment', (t) => {
    const c = parse('   a   =   "b c"   # comment\n\tn = 5 # five\n');
    t.same(
      c.env.map((v) => [v.name, v.value]),
      [
        ['a', 'b c'],
        ['n', '5'],
      ],
    );
    t.end();
  });
  t.test('CRLF line endings read as white space', (t) => {
    const c = parse('a="1"\r\nb=2\r\nc_load="YES"\r\n');
    t.same(
      c.env.map((v) => [v.name, v.value]),
      [
        ['a', '1'],
        ['b', '2'],
      ],
    );
    t.equal(c.modules[0]?.settings.load?.value, 'YES');
    t.end();
  });
  t.test('every module suffix: _load _name _type _flags _before _after _error', (t) => {
    const lines = parseLoaderConfLines(
      [
        'mod_load="YES"',
        'mod_name="/boot/modules/x.ko"',
        'mod_type="md_image"',
        'mod_flags="-v a=1"',
        'mod_before="echo before"',
        'mod_after="echo after"',
        'mod_error="abort"',
      ].join('\n'),
      FILE,
    );
    t.same(
      lines.map((l) => (l.kind === 'module' ? [l.key, l.field, l.value, l.source.line] : l.kind)),
      [
        ['mod', 'load', 'YES', 1],
        ['mod', 'name', '/boot/modules/x.ko', 2],
        ['mod', 'type', 'md_image', 3],
        ['mod', 'flags', '-v a=1', 4],
        ['mod', 'before', 'echo before', 5],
        ['mod', 'after', 'echo after', 6],
        ['mod', 'error', 'abort', 7],
      ],
    );
    t.end();
  });
  t.test('module keys: [-A-Za-z0-9_]+, the longest prefix before the suffix', (t) => {
    const lines = parseLoaderConfLines('if_em-x_load=YES\nfoo_load_load="x"\nzfs_load = "YES"', FILE);
    t.same(
      lines.map((l) => (l.kind === 'module' ? [l.key, l.field, l.value, l.quoted] : l.kind)),
      [
        ['if_em-x', 'load', 'YES', false],
        ['foo_load', 'load', 'x', true],
        ['zfs', 'load', 'YES', true],
      ],
    );
    t.end();
  });
  t.test('a dotted name ending in a module suffix is an environment variable', (t) => {
    const c = parse('debug.rescue_load="1"\nkern.foo_name=x\n');
    t.same(c.modules, []);
    t.same(
      c.env.map((v) => v.name),
      ['debug.rescue_load', 'kern.foo_name'],
    );
    t.end();
  });
  t.test('module values are kept verbatim (escapes are for the command parser)', (t) => {
    const c = parse('m_flags="a=\\"b c\\" $x"\n');
    t.equal(c.modules[0]?.settings.flags?.value, 'a=\\"b c\\" $x');
    t.end();
  });
  t.test('exec="command" is recorded in order, not run', (t) => {
    const c = parse('exec="echo one"\na=1\nexec = "load -t x y"\n');
    t.same(
      c.execs.map((e) => [e.command, e.source.line]),
      [
        ['echo one', 1],
        ['load -t x y', 3],
      ],
    );
    t.end();
  });
  t.test('exec=word is not an exec line: it sets a variable named exec (config.lua)', (t) => {
    const c = parse('exec=echo\n');
    t.same(c.execs, []);
    t.equal(confEnv(c, 'exec'), 'echo');
    t.end();
  });
  t.test('the quoted value runs to the LAST quote of the line (Lua "(.*)")', (t) => {
    const lines = parseLoaderConfLines('a="x\\"y"', FILE);
    const l = lines[0];
    t.equal(l?.kind === 'env' ? l.raw : undefined, 'x\\"y');
    t.equal(confEnv(parse('a="x\\"y"\n'), 'a'), 'x"y', '\\" stands for a quote');
    t.end();
  });
  t.test('a variable set twice keeps its first place and its last value', (t) => {
    const c = parse('a=1\nb=2\na=3\n');
    t.same(
      c.env.map((v) => [v.name, v.value, v.source.line]),
      [
        ['a', '3', 3],
        ['b', '2', 2],
      ],
    );
    t.end();
  });
  t.test('module settings: a later line wins; modules keep their first place', (t) => {
    const c = parse('b_load="NO"\na_load="YES"\nb_load="YES"\n');
    t.same(
      c.modules.map((m) => [m.key, m.settings.load?.value, m.settings.load?.source.line]),
      [
        ['b', 'YES', 3],
        ['a', 'YES', 2],
      ],
    );
    t.end();
  });
});

t.test('values: escapes and $ expansion (processEnvVar)', (t) => {
  const c = parse(
    [
      'base="/boot"',
      'p1="${base}/kernel"',
      'p2="$base/x-$base"',
      'p3="\\$base \\\\ \\q"',
      'p4="[$nope]"',
      'p5="$loaderdev:x"',
    ].join('\n'),
    { initialEnv: [['loaderdev', 'disk0p1']] },
  );
  t.equal(confEnv(c, 'p1'), '/boot/kernel', '${name}');
  t.equal(confEnv(c, 'p2'), '/boot/x-/boot', '$name stops at a character outside [-A-Za-z0-9_.]');
  t.equal(confEnv(c, 'p3'), '$base \\ q', 'backslash takes the next character literally');
  t.equal(confEnv(c, 'p4'), '[]', 'an unknown variable expands to nothing');
  t.equal(confEnv(c, 'p5'), 'disk0p1:x', 'the loader environment before the configuration');
  t.end();
});

t.test('loader_conf_files never reaches the environment', (t) => {
  const c = parse('loader_conf_files="/cfg/x.conf"\na=1\n');
  t.same(
    c.env.map((v) => v.name),
    ['a'],
  );
  t.end();
});

t.test('includes', async (t) => {
  t.test('read after the including file, in order; later files override', (t) => {
    const fs = memfs({
      '/cfg/a.conf': 'x="a"\nfrom_a=1\n',
      '/cfg/sub/b.conf': 'x="b"\nloader_conf_files="c.conf"\n',
      '/cfg/sub/c.conf': 'c=1\n',
    });
    const c = parse('loader_conf_files="a.conf sub/b.conf"\nx="top"\nafter=1\n', { resolver: fs });
    t.same(c.files, [FILE, '/cfg/a.conf', '/cfg/sub/b.conf', '/cfg/sub/c.conf'], 'relative to the including file');
    t.equal(confEnv(c, 'x'), 'b', 'the last file read wins');
    t.equal(c.env.find((v) => v.name === 'x')?.source.file, '/cfg/sub/b.conf', 'the winning line is reported');
    t.ok(
      c.env.findIndex((v) => v.name === 'after') < c.env.findIndex((v) => v.name === 'from_a'),
      'the rest of the including file is read before the include',
    );
    t.end();
  });
  t.test('each file is read once (a diamond)', (t) => {
    const fs = memfs({
      '/cfg/a.conf': 'loader_conf_files="c.conf"\n',
      '/cfg/b.conf': 'loader_conf_files="c.conf"\n',
      '/cfg/c.conf': 'n=1\n',
    });
    const c = parse('loader_conf_files="a.conf b.conf"\n', { resolver: fs });
    t.same(c.files, [FILE, '/cfg/a.conf', '/cfg/c.conf', '/cfg/b.conf']);
    t.same(c.warnings, [], 'no warning: not a loop');
    t.end();
  });
  t.test('loader_conf_files is reset for each file', (t) => {
    const fs = memfs({ '/cfg/a.conf': 'a=1\n', '/cfg/b.conf': 'b=1\n' });
    const c = parse('loader_conf_files="a.conf"\n', { resolver: fs });
    t.same(c.files, [FILE, '/cfg/a.conf'], 'a.conf does not inherit the list that named it');
    t.end();
  });
  t.test('a missing include is skipped with a warning (FreeBSD reads silently)', (t) => {
    const c = parse('loader_conf_files="/cfg/loader.conf.local"\n', { resolver: memfs({}) });
    t.same(c.files, [FILE]);
    t.same(
      c.warnings.map((w) => [w.code, w.path, w.source?.line]),
      [['INCLUDE_MISSING', '/cfg/loader.conf.local', 1]],
    );
    t.end();
  });
  t.test('absolute names map under absoluteBase (the boot partition)', (t) => {
    const fs = memfs({ '/img/boot/loader.conf.local': 'local=1\n' });
    const c = parseLoaderConf('loader_conf_files="/boot/loader.conf.local"\n', '/img/boot/loader.conf', {
      resolver: fs,
      absoluteBase: '/img',
    });
    t.equal(confEnv(c, 'local'), '1');
    t.end();
  });
  t.test('a loop is skipped with a warning by default (FreeBSD reads each file once)', (t) => {
    const fs = memfs({ '/cfg/a.conf': 'loader_conf_files="loader.conf"\n' });
    const c = parse('loader_conf_files="a.conf"\n', { resolver: fs });
    t.same(c.files, [FILE, '/cfg/a.conf']);
    t.same(
      c.warnings.map((w) => [w.code, w.source?.file, w.source?.line]),
      [['INCLUDE_LOOP', '/cfg/a.conf', 1]],
    );
    t.end();
  });
  t.test('a file naming itself is a loop too', (t) => {
    const c = parse('loader_conf_files="loader.conf"\n', { resolver: memfs({}) });
    t.equal(c.warnings[0]?.code, 'INCLUDE_LOOP');
    t.end();
  });
  t.test('loader_conf_dirs: *.conf files of each directory, sorted, after the includes', (t) => {
    const fs = memfs({
      '/cfg/conf.d/b.conf': 'b=1\n',
      '/cfg/conf.d/a.conf': 'a=1\n',
      '/cfg/conf.d/readme': 'not=1\n',
      '/cfg/x.conf': 'x=1\n',
    });
    const c = parse('loader_conf_dirs="conf.d nodir"\nloader_conf_files="x.conf"\n', { resolver: fs });
    t.same(c.files, [FILE, '/cfg/x.conf', '/cfg/conf.d/a.conf', '/cfg/conf.d/b.conf']);
    t.same(
      c.warnings.map((w) => [w.code, w.path]),
      [['CONF_DIR_MISSING', '/cfg/nodir']],
    );
    t.end();
  });
});

t.test('errors: one line of the good configuration changed', async (t) => {
  const at = (i: number): number => i + 1;
  t.test('CONFIG_SYNTAX: no form matches', (t) => {
    errorAt(t, () => parse(withLine(3, 'hw.physmem 1G')), ConfigCode.Syntax, FILE, at(3), 'no = sign');
    errorAt(t, () => parse(withLine(3, 'hw.physmem=/1G')), ConfigCode.Syntax, FILE, at(3), 'unquoted value not a word');
    errorAt(
      t,
      () => parse(withLine(4, 'debug.rescue_minidump="1')),
      ConfigCode.Syntax,
      FILE,
      at(4),
      'unterminated quote',
    );
    errorAt(t, () => parse(withLine(9, '="x"')), ConfigCode.Syntax, FILE, at(9), 'no name');
    t.end();
  });
  t.test('CONFIG_SYNTAX: text after the value that is not a comment', (t) => {
    errorAt(t, () => parse(withLine(3, 'hw.physmem=1G 2G')), ConfigCode.Syntax, FILE, at(3), 'env');
    errorAt(t, () => parse(withLine(5, 'rescue_load="YES" please')), ConfigCode.Syntax, FILE, at(5), 'module');
    errorAt(t, () => parse(withLine(0, 'exec="echo" ;')), ConfigCode.Syntax, FILE, at(0), 'exec');
    t.end();
  });
  t.test('CONFIG_BAD_VALUE: a stray quote (the greedy quote swallowed a comment)', (t) => {
    errorAt(t, () => parse(withLine(4, 'debug.rescue_minidump="1" # "on"')), ConfigCode.BadValue, FILE, at(4));
    const m = parse(withLine(5, 'rescue_load="YES" # "x"')).modules[0];
    t.equal(m?.settings.load?.value, 'YES" # "x', 'a module value keeps it (the command parser reads it later)');
    t.end();
  });
  t.test('CONFIG_BAD_VALUE: a backslash at the end of the value', (t) => {
    const e = errorAt(t, () => parse(withLine(2, 'kernel="kernel\\"')), ConfigCode.BadValue, FILE, at(2));
    t.equal(e?.details['position'], 7, 'the position, 1-based as Lua reports it');
    t.end();
  });
  t.test('CONFIG_BAD_VALUE: a $ at the end, and malformed $ expressions', (t) => {
    errorAt(t, () => parse(withLine(2, 'kernel="kernel$"')), ConfigCode.BadValue, FILE, at(2), '$ at the end');
    errorAt(t, () => parse(withLine(2, 'kernel="${}x"')), ConfigCode.BadValue, FILE, at(2), 'empty ${}');
    errorAt(t, () => parse(withLine(2, 'kernel="${x"')), ConfigCode.BadValue, FILE, at(2), 'no closing brace');
    errorAt(t, () => parse(withLine(2, 'kernel="$-x"')), ConfigCode.BadValue, FILE, at(2), 'bad first character');
    t.end();
  });
  t.test('CONFIG_TOO_LARGE: a line longer than the limit', (t) => {
    errorAt(
      t,
      () => parse(withLine(3, `hw.physmem="${'1'.repeat(200)}"`), { limits: { maxLineLength: 100 } }),
      ConfigCode.TooLarge,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_TOO_LARGE: an included file larger than the limit', (t) => {
    const fs = memfs({ '/cfg/big.conf': `a="${'x'.repeat(500)}"\n` });
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="big.conf"'), { resolver: fs, limits: { maxFileBytes: 400 } }),
      ConfigCode.TooLarge,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_TOO_LARGE: more files than the limit', (t) => {
    const fs = memfs({ '/cfg/a.conf': 'a=1\n', '/cfg/b.conf': 'b=1\n' });
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="a.conf b.conf"'), { resolver: fs, limits: { maxFiles: 2 } }),
      ConfigCode.TooLarge,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: ../ out of the configuration directory', (t) => {
    const e = errorAt(
      t,
      () =>
        parse(withLine(3, 'loader_conf_files="../etc/secret.conf"'), {
          resolver: memfs({ '/etc/secret.conf': 'x=1' }),
        }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.equal(e?.details['resolved'], '/etc/secret.conf');
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: ../ hidden in the middle of a path', (t) => {
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="sub/../../x.conf"'), { resolver: memfs({}) }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: an absolute path outside', (t) => {
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="/boot/loader.conf.local"'), { resolver: memfs({}) }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: an absolute path that climbs out of absoluteBase', (t) => {
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="/../../etc/x.conf"'), { resolver: memfs({}), absoluteBase: '/cfg' }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: a file inside whose real path (a symlink) is outside', (t) => {
    const fs = memfs({ '/cfg/link.conf': 'x=1\n' }, { '/cfg/link.conf': '/etc/x.conf' });
    const e = errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="link.conf"'), { resolver: fs }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.equal(e?.details['realPath'], '/etc/x.conf');
    t.end();
  });
  t.test('CONFIG_INCLUDE_ESCAPE: a loader_conf_dirs entry outside', (t) => {
    errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_dirs="/etc"'), { resolver: memfs({ '/etc/a.conf': '' }) }),
      ConfigCode.IncludeEscape,
      FILE,
      at(3),
    );
    t.end();
  });
  t.test('CONFIG_INCLUDE_LOOP: a loop, when loops are refused', (t) => {
    const fs = memfs({ '/cfg/a.conf': 'x=1\nloader_conf_files="loader.conf"\n' });
    const e = errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="a.conf"'), { resolver: fs, includeLoops: 'error' }),
      ConfigCode.IncludeLoop,
      '/cfg/a.conf',
      2,
    );
    t.same(e?.details['chain'], [FILE, '/cfg/a.conf', FILE]);
    t.end();
  });
  t.test('CONFIG_INCLUDE_DEPTH: includes nested past the limit', (t) => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`/cfg/d${i}.conf`] = `n${i}=1\nloader_conf_files="d${i + 1}.conf"\n`;
    const e = errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="d0.conf"'), { resolver: memfs(files), limits: { maxDepth: 3 } }),
      ConfigCode.IncludeDepth,
      '/cfg/d2.conf',
      2,
    );
    t.equal(e?.details['depth'], 4);
    t.end();
  });
  t.test('CONFIG_UNREADABLE: a resolver failure that is not a ConfigError', (t) => {
    const broken: ConfResolver = {
      read: () => {
        throw new Error('EIO');
      },
    };
    const e = errorAt(
      t,
      () => parse(withLine(3, 'loader_conf_files="a.conf"'), { resolver: broken }),
      ConfigCode.Unreadable,
      FILE,
      at(3),
    );
    t.ok(e?.cause instanceof Error, 'the cause is kept');
    t.end();
  });
});

/** The bomb: variables that double each other `levels` times (595 bytes at 24 levels). */
function expansionBomb(levels: number): string {
  const lines = ['v0="xxxxxxxxxxxxxxxx"'];
  for (let i = 1; i <= levels; i++) lines.push(`v${i}="\${v${i - 1}}\${v${i - 1}}"`);
  return text(lines);
}

t.test('CONFIG_EXPANSION_TOO_LARGE: bounded $ expansion, checked before the value is built', (t) => {
  t.test('the doubling bomb stops at the line that passes 64 Ki characters, without allocating', (t) => {
    const bomb = expansionBomb(24);
    t.ok(bomb.length < 600, `${bomb.length} bytes`);
    const before = process.memoryUsage().rss;
    const started = performance.now();
    // v0 is 16 characters: v12 is 64 Ki (allowed), v13 is 128 Ki (line 14)
    const e = errorAt(t, () => parse(bomb), ConfigCode.ExpansionTooLarge, FILE, 14);
    t.equal(e?.details['kind'], 'value');
    t.equal(e?.details['name'], 'v13');
    t.equal(e?.details['length'], 16 << 13);
    t.ok(performance.now() - started < 1000, 'fast');
    t.ok(process.memoryUsage().rss - before < 64 << 20, 'no large allocation');
    t.equal(confEnv(parse(expansionBomb(12)), 'v12')?.length, 1 << 16, 'exactly the limit is fine');
    t.end();
  });
  t.test('depth: a chain of 17 variables is refused, 16 is fine', (t) => {
    const chain = (n: number): string => text(['c0="x"', ...Array.from({ length: n }, (_, i) => `c${i + 1}="$c${i}"`)]);
    t.equal(confEnv(parse(chain(16)), 'c16'), 'x');
    const e = errorAt(t, () => parse(chain(17)), ConfigCode.ExpansionTooLarge, FILE, 18);
    t.equal(e?.details['kind'], 'depth');
    t.equal(e?.details['depth'], 17);
    const lowered = errorAt(
      t,
      () => parse(chain(3), { limits: { maxExpansionDepth: 2 } }),
      ConfigCode.ExpansionTooLarge,
      FILE,
      4,
    );
    t.equal(lowered?.details['limit'], 2);
    t.end();
  });
  t.test('environment: many variables each at the limit; replacing a value does not add up', (t) => {
    const many = text(['a="0123456789"', ...Array.from({ length: 10 }, (_, i) => `b${i}="$a$a$a"`)]);
    const e = errorAt(t, () => parse(many, { limits: { maxEnvBytes: 200 } }), ConfigCode.ExpansionTooLarge, FILE, 8);
    t.equal(e?.details['kind'], 'environment');
    const again = text(['a="0123456789"', ...Array.from({ length: 100 }, () => 'b="$a$a$a"')]);
    t.equal(confEnv(parse(again, { limits: { maxEnvBytes: 200 } }), 'b')?.length, 30);
    t.end();
  });
  t.test('a loader_conf_files value is bounded too', (t) => {
    const big = text(['n="aaaaaaaaaaaaaaaa"', 'loader_conf_files="$n$n$n"']);
    errorAt(t, () => parse(big, { limits: { maxValueLength: 40 } }), ConfigCode.ExpansionTooLarge, FILE, 2);
    t.end();
  });
  t.end();
});
