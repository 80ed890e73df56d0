// Fuzz contract of the loader.conf parser and the preload decisions: whatever the text and
// whatever the included files say, parseLoaderConf and preloadDecisions return or throw
// ConfigError — never TypeError/RangeError or another domain's error. Inputs: random strings,
// lines built from loader.conf's own pieces (names, quotes, escapes, $, #, =, module suffixes,
// include lists with ../ and absolute paths), and a good configuration with characters changed.
import t from 'tap';
import fc from 'fast-check';
import { ConfigError } from '../../loader/errors.js';
import { encodeKenv } from '../../loader/handoff/kenv.js';
import { HandoffError } from '../../loader/handoff/errors.js';
import { moduleCandidates, parseLoaderConf, preloadDecisions, type ConfResolver } from '../../loader/preload/index.js';

const GOOD = [
  'kernel="kernel"',
  'hw.physmem=1G',
  'debug.rescue_minidump="1"',
  'rescue_load="YES"',
  'rescue_type="rescue_kernel"',
  'rescue_name="/boot/rescue/kernel"',
  'm_load="YES"',
  'm_flags="a=\\"b c\\" d"',
  'm_before="load -t x /boot/x"',
  'm_after="echo done"',
  'p="${kernel}/$hw.physmem"',
  'loader_conf_files="a.conf sub/b.conf"',
  'loader_conf_dirs="conf.d"',
  'exec="echo hi"',
].join('\n');

/** Pieces loader.conf lines are made of, so random lines often get past the first pattern. */
const piece = fc.oneof(
  fc.constantFrom(
    'kernel',
    'hw.physmem',
    'rescue',
    'm',
    '_load',
    '_name',
    '_type',
    '_flags',
    '_before',
    '_after',
    '_error',
    'exec',
    'loader_conf_files',
    'loader_conf_dirs',
    'module_path',
    'module_blacklist',
    'bootfile',
    'kernel_options',
    '=',
    ' = ',
    '"',
    '\\',
    '\\"',
    '$',
    '${',
    '}',
    '#',
    ' ',
    '\t',
    '\r',
    'YES',
    'load ',
    '-t ',
    'rescue_kernel',
    ';',
    '../',
    '/',
    'a.conf',
    'sub/b.conf',
    'conf.d',
    '.conf',
    '\u00e9',
    '\u{1f600}',
  ),
  fc.string({ maxLength: 6 }),
);
const line = fc.array(piece, { maxLength: 12 }).map((p) => p.join(''));
const config = fc.array(line, { maxLength: 20 }).map((l) => l.join('\n'));

/** Included files are random configurations too. */
function resolverFor(files: readonly string[]): ConfResolver {
  const names = ['/cfg/a.conf', '/cfg/sub/b.conf', '/cfg/conf.d/x.conf', '/cfg/sub/c.conf'];
  const map = new Map(names.map((n, i) => [n, files[i] ?? '']));
  return {
    read: (p) => {
      const text = map.get(p);
      return text === undefined
        ? undefined
        : { text, ...(p.includes('c.conf') ? { realPath: '/elsewhere/c.conf' } : {}) };
    },
    listFiles: (d) => (d === '/cfg/conf.d' ? ['x.conf', 'y.txt'] : undefined),
  };
}

/** The contract; false is never returned: a foreign error is rethrown for fast-check to shrink. */
function holds(text: string, files: readonly string[], loops: 'skip' | 'error'): boolean {
  try {
    const conf = parseLoaderConf(text, '/cfg/loader.conf', {
      resolver: resolverFor(files),
      includeLoops: loops,
      limits: { maxDepth: 4, maxFiles: 8, maxLineLength: 4096 },
    });
    const d = preloadDecisions(conf);
    for (const m of d.modules) moduleCandidates(m, d.modulePath);
    try {
      encodeKenv(d.kenv);
    } catch (e) {
      if (!(e instanceof HandoffError)) throw e; // the kenv encoder has its own domain
    }
    JSON.stringify({ conf, d }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch (e) {
    if (e instanceof ConfigError) return true;
    throw e;
  }
  return true;
}

t.test('random strings (2000 runs)', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), fc.array(fc.string({ maxLength: 100 }), { maxLength: 4 }), (s, f) =>
      holds(s, f, 'skip'),
    ),
    { numRuns: 2000 },
  );
  t.pass('only ConfigError escaped');
  t.end();
});

t.test('lines made of loader.conf pieces, with random includes (3000 runs)', (t) => {
  fc.assert(
    fc.property(config, fc.array(config, { maxLength: 4 }), fc.boolean(), (s, f, strict) =>
      holds(s, f, strict ? 'error' : 'skip'),
    ),
    { numRuns: 3000 },
  );
  t.pass('only ConfigError escaped');
  t.end();
});

t.test('a good configuration with characters changed (2000 runs)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.constantFrom('"', '\\', '$', '#', '=', ' ', '\n', '{', '}', '/', '.', 'x')), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.array(fc.constantFrom(GOOD, 'loader_conf_files="../a.conf"', 'loader_conf_files="sub/c.conf"', 'x=1'), {
        maxLength: 4,
      }),
      (edits, files) => {
        const chars = [...GOOD];
        for (const [pos, c] of edits) chars[pos % chars.length] = c;
        return holds(chars.join(''), files, 'skip');
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('only ConfigError escaped');
  t.end();
});
