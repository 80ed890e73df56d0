/**
 * Text inputs a user writes: machine profiles (parseProfile), loader.conf with its includes
 * (parseLoaderConf through an in-memory resolver, then preloadDecisions, the module file
 * candidates and the kenv encoding), the state journal (loadJournal over a private
 * directory), the host events (loadHostJournal, host/journal.ts), and the number parsers of the command line (parseSizeText, --seed).
 * Seeds: the built-in profiles, loader.conf files in FreeBSD's forms, journals as kboot
 * writes them.
 */
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSizeText } from '../../../loader/addr.js';
import { ConfigError } from '../../../loader/errors.js';
import { encodeKenv } from '../../../loader/handoff/kenv.js';
import { HandoffError } from '../../../loader/handoff/errors.js';
import { packagePath } from '../../../loader/paths.js';
import { hostFirmware } from '../../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../../loader/plan/memory-map.js';
import { builtinProfileNames, parseProfile } from '../../../loader/plan/profile.js';
import {
  moduleCandidates,
  parseLoaderConf,
  preloadDecisions,
  type ConfResolver,
} from '../../../loader/preload/index.js';
import { JOURNAL_FILE, loadJournal } from '../../../machine/journal.js';
import { HOST_JOURNAL_FILE, lastHostLoad, loadHostJournal } from '../../../host/journal.js';
import { parseSeed } from '../../../cli/actions/compare.js';
import { buildImportedProfile, importDtb } from '../../../loader/import/index.js';
import { bytesCase, packParts, textTarget, unpackParts } from '../lib/build.js';
import { mutatedText, tokenEdits } from '../lib/mutate.js';
import { scratchDir } from '../lib/scratch.js';
import { invariant, NotDecoded, type FuzzCase, type FuzzTarget } from '../lib/target.js';
import { CliError } from '../../../cli/errors.js';

/** The profile `kboot machine import --dtb` writes for a fixture board. */
function importedBoard(name: string): Record<string, unknown> {
  const facts = importDtb(readFileSync(packagePath('test', 'fixtures', 'dtb', `${name}.dtb`)));
  return buildImportedProfile(facts, { name, command: 'fuzz seed', inputs: [] }).json;
}

export const profileTarget: FuzzTarget = textTarget({
  name: 'profile',
  group: 'config',
  entry: 'parseProfile (JSON, schemas/machine.schema.json, the semantic rules) + buildMemoryMap + hostFirmware',
  errors: [ConfigError],
  floor: 0.05,
  tapRuns: 6000,
  json: true,
  seeds: () => [
    ...builtinProfileNames().map((n) => readFileSync(packagePath('profiles', `${n}.json`), 'utf8')),
    // an imported board: its own DTB, a GICv3 with an ITS, provenance and assumptions
    JSON.stringify(importedBoard('cavium_thunder-88xx')),
    // a GICv2 board
    JSON.stringify(importedBoard('qemu-virt-gicv2')),
  ],
  decode: (text) => {
    const p = parseProfile(text, 'fuzz.json');
    // what every command does next with a profile: its memory map and the firmware's map of it
    const map = buildMemoryMap(p);
    const fw = hostFirmware(p, map);
    return { arch: p.arch, ram: p.ram.length, entries: map.entries.length, firmware: fw.kind };
  },
  tokens: ['"', ',', ':', '{', '}', '[', ']', '0x', '0', 'f', 'G', 'M', 'K', ' ', '\n', '-', 'null', '1e9'],
});

const CONF = [
  [
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
  ].join('\n'),
  '# FreeBSD /boot/loader.conf\nautoboot_delay="3"\nzfs_load="YES"\nvfs.root.mountfrom="zfs:zroot/ROOT/default"\n',
  'kern.smp.disabled=1\n  module_path="/boot/kernel;/boot/modules"\nif_bridge_load="YES" # bridge\n',
  'loader_conf_files="sub/b.conf"\nx="$y"\ny=2\n',
];
const INCLUDED = ['a="1"\nloader_conf_files="sub/b.conf"', 'b_load="NO"\nb_name="/boot/b.ko"', 'c=3\n', 'x.conf=1'];
const FILE_NAMES = ['/cfg/a.conf', '/cfg/sub/b.conf', '/cfg/conf.d/x.conf', '/cfg/sub/c.conf'];

/** Included files are the input's other parts; `c.conf` reports a real path outside the root. */
function resolverFor(files: readonly string[]): ConfResolver {
  const map = new Map(FILE_NAMES.map((n, i) => [n, files[i] ?? '']));
  return {
    read: (p) => {
      const text = map.get(p);
      if (text === undefined) return undefined;
      return { text, ...(p.includes('c.conf') ? { realPath: '/elsewhere/c.conf' } : {}) };
    },
    listFiles: (d) => (d === '/cfg/conf.d' ? ['x.conf', 'y.txt'] : undefined),
  };
}

function decodeConf(text: string, files: readonly string[], loops: 'skip' | 'error'): unknown {
  const conf = parseLoaderConf(text, '/cfg/loader.conf', { resolver: resolverFor(files), includeLoops: loops });
  const d = preloadDecisions(conf);
  for (const m of d.modules) moduleCandidates(m, d.modulePath);
  let kenv = 'encoded';
  try {
    encodeKenv(d.kenv);
  } catch (e) {
    if (!(e instanceof HandoffError)) throw e; // the kenv encoder's own refusal (a too long kenv)
    kenv = e.code;
  }
  return { env: conf.env.length, modules: d.modules.length, kenv };
}

/** Pieces loader.conf lines are made of, so random lines often get past the first pattern. */
const PIECES = [
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
  '\n',
  'YES',
  'load ',
  '-t ',
  'rescue_kernel',
  ';',
  '../',
  '/',
  'a.conf',
  'sub/b.conf',
  'sub/c.conf',
  'conf.d',
  '.conf',
  '\u00e9',
  '\u{1f600}',
];
const pieceLines = fc
  .array(fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6 })), { maxLength: 12 }), {
    maxLength: 20,
  })
  .map((ls) => ls.map((l) => l.join('')).join('\n'));

/**
 * Variables that expand each other (issue 11's loader.conf bomb): `v0` is a short value,
 * `vN="${vN-1}${vN-1}"`, so the last one is 2^depth times as long.
 */
const expansionBomb = fc
  .tuple(
    fc.integer({ min: 1, max: 40 }),
    fc.string({ minLength: 1, maxLength: 8, unit: 'grapheme-ascii' }),
    fc.boolean(),
  )
  .map(([depth, base, braces]) => {
    const ref = (i: number): string => (braces ? `\${v${i}}` : `$v${i}`);
    const lines = [`v0="${base.replace(/["\\$]/g, 'x')}"`];
    for (let i = 1; i <= depth; i++) lines.push(`v${i}="${ref(i - 1)}${ref(i - 1)}"`);
    return lines.join('\n');
  });

interface ConfInput {
  readonly text: string;
  readonly files: readonly string[];
  readonly strict: boolean;
}

function confCase(i: ConfInput): FuzzCase {
  const enc = new TextEncoder();
  const c = bytesCase(packParts({ strict: i.strict }, [enc.encode(i.text), ...i.files.map((f) => enc.encode(f))]), () =>
    decodeConf(i.text, i.files, i.strict ? 'error' : 'skip'),
  );
  return c;
}

export const loaderConfTarget: FuzzTarget = {
  name: 'loader-conf',
  group: 'config',
  entry: 'parseLoaderConf (in-memory includes) + preloadDecisions + moduleCandidates + encodeKenv',
  errors: [ConfigError],
  floor: 0.09,
  tapRuns: 6000,
  prepare() {
    const files = fc.array(fc.oneof(fc.constantFrom(...INCLUDED, ...CONF), mutatedText(INCLUDED), pieceLines), {
      maxLength: 4,
    });
    const text = fc.oneof(
      { weight: 1, arbitrary: fc.string({ maxLength: 400 }) },
      { weight: 3, arbitrary: pieceLines },
      { weight: 3, arbitrary: mutatedText(CONF) },
      {
        weight: 3,
        arbitrary: tokenEdits(CONF, ['"', '\\', '$', '#', '=', ' ', '\n', '{', '}', '/', '.', 'x', '_load', '${']),
      },
      { weight: 1, arbitrary: expansionBomb },
    );
    const arbitrary = fc
      .record({ text, files: fc.oneof(fc.constant(INCLUDED), files), strict: fc.boolean() })
      .map(confCase);
    return {
      seeds: CONF.map((text) => confCase({ text, files: INCLUDED, strict: false })),
      arbitrary,
      fromBytes: (b) => {
        const { meta, parts } = unpackParts(b);
        const dec = new TextDecoder();
        const [text, ...rest] = parts.map((p) => dec.decode(p));
        const strict = typeof meta === 'object' && meta !== null && (meta as { strict?: unknown }).strict === true;
        return confCase({ text: text ?? '', files: rest, strict });
      },
    };
  },
};

const SHA = 'a'.repeat(64);
const JOURNALS = [
  {
    version: 1,
    machine: 'amd64-efi',
    seed: 1,
    actions: [
      { action: 'boot', strategy: 'kexec', phase: 'running', rescue: { path: '/k/rescue.elf', sha256: SHA } },
      { action: 'load', crash: true, kernel: { path: '/k/rescue.elf', sha256: SHA }, abi: 'linux' },
      { action: 'unload', crash: true },
      { action: 'load', crash: false, kernel: { path: '/k/k.elf', sha256: SHA.replace(/a/g, '0') }, abi: 'freebsd' },
    ],
  },
  {
    version: 1,
    machine: '/profiles/board.json',
    seed: 4294967295,
    actions: [
      {
        action: 'boot',
        strategy: 'kld',
        phase: 'loader',
        kernel: { path: '/k/kernel', sha256: SHA },
        rescue: { path: '/k/rescue', sha256: SHA },
        config: { path: '/boot/loader.conf', sha256: SHA },
        memsize: '2G',
      },
      { action: 'advance', phase: 'rc' },
      { action: 'panic' },
    ],
  },
].map((j, i) => `${JSON.stringify(j, null, i === 0 ? 2 : undefined)}\n`);

export const journalTarget: FuzzTarget = textTarget({
  name: 'journal',
  group: 'config',
  entry: 'loadJournal (state.json: JSON + schemas/state.schema.json)',
  errors: [ConfigError],
  floor: 0.04,
  tapRuns: 4000,
  json: true,
  seeds: () => JOURNALS,
  decode: (text) => {
    const dir = scratchDir();
    writeFileSync(join(dir, JOURNAL_FILE), text);
    const j = loadJournal(dir);
    invariant(j !== undefined, 'a journal file that exists is reported missing');
    return { machine: j.machine, actions: j.actions.length };
  },
  tokens: ['"', ',', ':', '{', '}', '[', ']', 'boot', 'load', 'true', '0', ' ', '\n'],
});

const HOST_EVENTS = [
  {
    version: 1,
    events: [
      {
        time: '2026-12-07T14:31:06.955Z',
        command: 'load',
        os: 'linux',
        arch: 'amd64',
        abi: 'linux',
        crash: true,
        dryRun: false,
        syscall: 246,
        kernel: { path: '/tmp/probe.elf', sha256: SHA },
        load: {
          entry: '0xb7e01000',
          flags: '0x3e0001',
          region: { start: '0xb7c00000', size: '0x8204000' },
          memsize: '0x8000000',
          segments: [
            {
              buf: '0x1a3d5400',
              bufsz: '0x1000',
              mem: '0xb7c00000',
              memsz: '0x11000',
              sha256: SHA,
              labels: ['params'],
            },
            { bufsz: '0x3240', mem: '0xb7e00000', memsz: '0x4000', sha256: SHA, labels: ['kernel probe.elf'] },
          ],
        },
        result: { ok: false, code: 'HOST_ENOSYS', errno: 38, message: 'host: kexec_load failed' },
      },
      {
        time: 't',
        command: 'status',
        os: 'linux',
        arch: 'arm64',
        result: { ok: true },
        facts: { kexec: false, crashSize: null, armed: false, bytes: '0x1' },
      },
    ],
  },
  { version: 1, events: [] },
].map((j, i) => `${JSON.stringify(j, null, i === 0 ? 2 : undefined)}\n`);

export const hostJournalTarget: FuzzTarget = textTarget({
  name: 'host-journal',
  group: 'config',
  entry: 'loadHostJournal (host.json: JSON + schemas/host-journal.schema.json) + lastHostLoad',
  errors: [ConfigError],
  floor: 0.04,
  tapRuns: 3000,
  json: true,
  seeds: () => HOST_EVENTS,
  decode: (text) => {
    const dir = scratchDir();
    writeFileSync(join(dir, HOST_JOURNAL_FILE), text);
    const j = loadHostJournal(dir);
    const last = lastHostLoad(j);
    return { events: j.events.length, segments: last?.load?.segments.length ?? -1 };
  },
  tokens: ['"', ',', ':', '{', '}', '[', ']', 'load', 'status', 'true', '0x0', ' ', '\n'],
});

const SIZES = ['0', '1', '4096', '0x1000', '0X10', '1K', '2M', '3G', '4T', '0xffffffffffffffff', '1G ', ' 1'];

export const numbersTarget: FuzzTarget = textTarget({
  name: 'numbers',
  group: 'config',
  entry: 'parseSizeText (sizes and addresses in profiles, options and the journal) + --seed (parseSeed)',
  errors: [NotDecoded],
  floor: 0.06,
  tapRuns: 6000,
  seeds: () => SIZES,
  decode: (text) => {
    const v = parseSizeText(text);
    invariant(v === undefined || (v >= 0n && v < 1n << 64n), `parseSizeText gave ${String(v)}`);
    let seed: number | string;
    try {
      seed = parseSeed(text);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      seed = e.code;
    }
    if (v === undefined) throw new NotDecoded('not a size');
    return { v, seed };
  },
  tokens: ['0', '1', '9', 'x', 'X', 'f', 'K', 'M', 'G', 'T', 'P', 'E', ' ', '-', '+', '.', 'e', '_'],
});
