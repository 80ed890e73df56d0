// Every kboot command's --json output against its schemas/<command>.schema.json: each command
// runs in-process (runCli + memoryIo in a temp dir) on amd64-efi and arm64-fdt and must print
// exactly one JSON object that validates; `compare` and `demo` (slow: ~15 s each) run once, as
// child processes started at the top so they overlap the rest. Failing commands print
// {"error": {...}} (schemas/error.schema.json). The meta-check parses `kboot --help` (and the
// Commands: section of each group's --help: `dump inspect` -> dump-inspect) and wants a schema
// file for every command and every command exercised here; `help` is exempt.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../../../loader/addr.js';
import { archInfo, type Arch } from '../../../loader/arch/index.js';
import { packagePath } from '../../../loader/paths.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { validateJson } from '../../../loader/schema.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { nativeAvailable } from '../../../native/binding.js';
import { realKexecRefusal } from '../../helpers/host-kexec.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-json-schemas-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;
interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function kboot(...argv: string[]): Promise<Run> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** Every schema some output was validated against (for the meta-check). */
const validated = new Set<string>();

/** Parses `out` as exactly one JSON object and validates it against `schema`. */
function check(t: Test, schema: string, r: Run, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(r.out);
  } catch (e) {
    t.fail(`${what}: stdout is not one JSON value (${String(e)}): ${r.out.slice(0, 200)}`);
    return {};
  }
  t.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${what}: prints one JSON object`);
  t.same(validateJson(schema, value), [], `${what}: valid against ${schema}.schema.json`);
  validated.add(schema);
  return value as Json;
}

/** Runs `kboot --json ARGV`, wants exit `exit` and nothing on stderr; returns the checked object. */
async function json(t: Test, schema: string, exit: number, ...argv: string[]): Promise<Json> {
  const r = await kboot('--json', ...argv);
  const what = `kboot ${argv.join(' ')}`;
  t.equal(r.code, exit, `${what}: exit ${exit}${r.code === exit ? '' : ` (${r.err}${r.out.slice(0, 400)})`}`);
  t.equal(r.err, '', `${what}: nothing on stderr`);
  return check(t, schema, r, what);
}

/** The commands `kboot [GROUP] --help` lists (its Commands: section), `help` left out. */
async function listedCommands(...group: string[]): Promise<string[]> {
  const r = await kboot(...group, '--help');
  const section = /\nCommands:\n([\s\S]*)$/.exec(r.out)?.[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z0-9-]*)/gm)].map((m) => m[1] ?? '').filter((c) => c !== 'help');
}

/** schemas/ names for every command: `dump inspect` -> dump-inspect; groups stand for their subcommands. */
async function commandSchemaNames(): Promise<string[]> {
  const names: string[] = [];
  for (const c of await listedCommands()) {
    const subs = await listedCommands(c);
    if (subs.length === 0) names.push(c);
    else names.push(...subs.map((s) => `${c}-${s}`));
  }
  return names;
}

const commands = await commandSchemaNames();

// compare and demo, when present: each in its own process, started now, awaited at the end
function spawnKboot(...argv: string[]): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [packagePath('dist', 'cli', 'main.js'), ...argv], { cwd: dir });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => done({ code: code ?? -1, out, err }));
  });
}
const slow = new Map<string, { argv: string[]; run: Promise<Run> }>();
if (skip === false) {
  writeFileSync(join(dir, 'slow-rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
  const argvs: Record<string, string[]> = {
    compare: ['--json', 'compare', 'slow-rescue.elf', '--machine', 'amd64-efi'],
    demo: ['--json', 'demo', '--arch', 'amd64', '--out', 'demo-out'],
  };
  for (const [name, argv] of Object.entries(argvs)) {
    if (commands.includes(name)) slow.set(name, { argv, run: spawnKboot(...argv) });
  }
}

const MACHINES: readonly { readonly arch: Arch; readonly machine: string }[] = [
  { arch: 'amd64', machine: 'amd64-efi' },
  { arch: 'arm64', machine: 'arm64-fdt' },
];

for (const { arch, machine } of MACHINES) {
  const rescue = `rescue-${arch}.elf`;
  const next = `next-${arch}.elf`;

  t.test(`${arch}: inspect, plan, probe-kernel, exec, embed`, { skip }, async (t) => {
    const pk = await json(t, 'probe-kernel', Exit.Ok, 'probe-kernel', '--arch', arch, '-o', rescue);
    t.equal(pk['arch'], arch);
    t.equal(pk['size'], readFileSync(join(dir, rescue)).length, 'size is the file size');
    await json(t, 'probe-kernel', Exit.Ok, 'probe-kernel', '--arch', arch, '--mode', 'kexec', '-o', next);
    await json(t, 'inspect', Exit.Ok, 'inspect', rescue);
    await json(t, 'plan', Exit.Ok, 'plan', rescue, '--machine', machine);

    const kexec = await json(t, 'exec', Exit.Ok, 'exec', next, '--machine', machine);
    t.match(kexec, {
      arch,
      path: 'kexec',
      profile: machine,
      ok: true,
      probe: { report: { mode: 'kexec', complete: true } },
    });
    const crash = await json(t, 'exec', Exit.Ok, 'exec', rescue, '--machine', machine, '--crash');
    t.match(crash, { path: 'rescue', ok: true, probe: { report: { mode: 'rescue', complete: true } } });
    // a non-probe kernel gets the entry-contract check instead of a probe report
    writeFileSync(join(dir, `plain-${arch}.elf`), makeRescueKernel(arch));
    const plain = await json(t, 'exec', Exit.Ok, 'exec', `plain-${arch}.elf`, '--machine', machine);
    t.same(plain['contract'], [], 'every contract item holds');
    t.notOk('probe' in plain);
    // a rescue-mode probe without --crash: entered the way it expects (its mode is in its
    // image), with a note on stderr; a kexec-mode probe with --crash is a usage error
    const r = await kboot('--json', 'exec', rescue, '--machine', machine);
    const chosen = check(t, 'exec', r, `exec ${rescue} (rescue-mode probe, no --crash)`);
    t.match(chosen, { path: 'rescue', pathFrom: 'probe-mode', ok: true, probe: { report: { complete: true } } });
    t.equal(r.code, Exit.Ok);
    t.match(r.err, /rescue-mode probe: entering it through rescue_kernel_exec/);
    t.equal(kexec['pathFrom'], 'option');
    const wrong = await json(t, 'error', Exit.Usage, 'exec', next, '--machine', machine, '--crash');
    t.match(wrong, { error: { code: 'CLI_USAGE', details: { mode: 'kexec' } } }, 'a kexec-mode probe with --crash');

    const embedArgv = ['embed', '--host', next, '--rescue', rescue, '-o', `host-${arch}.elf`];
    const embed = await json(t, 'embed', Exit.Ok, ...embedArgv);
    t.equal(embed['rescueBytes'], readFileSync(join(dir, rescue)).length);
    t.equal(BigInt(String(embed['rescueEnd'])) - BigInt(String(embed['rescueStart'])), BigInt(pk['size'] as number));
  });

  t.test(`${arch}: boot, status, load, unload, panic, dump inspect, dump read on ${machine}`, { skip }, async (t) => {
    // every command replays the journal on a fresh machine (~1 s each): the list is kept short
    // kld: armed at boot; a panic with --dump-dir saves vmcore.0
    const kld = ['--state', `state-kld-${arch}`];
    const bootArgv = (strategy: string, state: string[]): string[] => [
      'boot',
      '--machine',
      machine,
      '--strategy',
      strategy,
      '--rescue',
      rescue,
      ...state,
    ];
    const boot = await json(t, 'boot', Exit.Ok, ...bootArgv('kld', kld));
    t.match(boot, { machine, strategy: 'kld', phase: 'running', userspace: true, armed: { phase: 'SI_SUB_VM_CONF' } });
    const crashDir = `crash-${arch}`;
    mkdirSync(join(dir, crashDir));
    const panic = await json(t, 'panic', Exit.Ok, 'panic', '--dump-dir', crashDir, '--no-progress', ...kld);
    t.match(panic, {
      strategy: 'kld',
      rescued: true,
      armedAt: 'SI_SUB_VM_CONF',
      jump: { reached: true },
      probe: { complete: true },
      dump: { format: 'minidump', n: 0, status: 'good', compression: 'none' },
    });
    const vmcore = join(crashDir, 'vmcore.0');
    t.ok(existsSync(join(dir, vmcore)), 'vmcore.0 saved');
    t.equal((await json(t, 'dump-inspect', Exit.Ok, 'dump', 'inspect', vmcore))['arch'], arch);
    t.match(await json(t, 'dump-info', Exit.Ok, 'dump', 'info', vmcore), {
      arch,
      sources: { panicString: 'info file' },
    });
    const kernstart = hex(archInfo(arch).kernstart);
    const kva = await json(t, 'dump-read', Exit.Ok, 'dump', 'read', vmcore, '--kva', kernstart, '--len', '16');
    await json(t, 'dump-read', Exit.Ok, 'dump', 'read', vmcore, '--pa', String(kva['pa']), '--len', '16');

    // kexec: nothing armed until kboot load --crash; unload disarms
    const kx = ['--state', `state-kexec-${arch}`];
    const booted = await json(t, 'boot', Exit.Ok, ...bootArgv('kexec', kx));
    t.equal(booted['armed'], null, 'the kexec strategy arms nothing at boot');
    const load = await json(t, 'load', Exit.Ok, 'load', '--crash', rescue, ...kx);
    t.match(load, { loaded: true, slot: 'crash', abi: 'linux' });
    if (arch === 'amd64') {
      t.match(await json(t, 'status', Exit.Ok, 'status', ...kx), { armed: { phase: 'running' } });
      const handoff = await json(t, 'panic', Exit.Ok, 'panic', ...kx);
      t.match(handoff, { strategy: 'kexec', rescued: true, armedAt: 'running' });
      t.notOk('dump' in handoff, 'no dump without --dump-dir or --dump-device');
      // a dump-device image instead of savecore's files
      const dev = await json(t, 'panic', Exit.Ok, 'panic', '--dump-device', 'dumpdev.img', '--no-progress', ...kld);
      t.match(dev, { rescued: true, dump: { format: 'minidump', device: { path: /dumpdev\.img$/ } } });
      t.notOk('vmcore' in (dev['dump'] as Json), 'no savecore fields');
    }
    t.same(await json(t, 'unload', Exit.Ok, 'unload', '--crash', ...kx), { unloaded: true });
    if (arch === 'amd64') {
      t.match(await json(t, 'panic', 1, 'panic', ...kx), { rescued: false, reason: /no crash kernel loaded/ });
    } else {
      t.match(await json(t, 'load', Exit.Ok, 'load', next, '--abi', 'freebsd', ...kx), { slot: 'normal' });
      const st = await json(t, 'status', 1, 'status', ...kx);
      t.match(st, { armed: null, normalImageLoaded: true }, 'status: exit 1 when nothing is armed');
    }
  });
}

t.test('machine import, list, show, rescue-dtb', { skip }, async (t) => {
  const board = packagePath('test', 'fixtures', 'dtb', 'qemu-virt-gicv3-its.dtb');
  const imp = await json(t, 'machine-import', Exit.Ok, 'machine', 'import', '--dtb', board, '--name', 'qemu-board');
  t.match(imp, { written: /qemu-board\.json$/, machine: { name: 'qemu-board', arch: 'arm64', firmware: 'fdt' } });
  t.match(await json(t, 'machine-list', Exit.Ok, 'machine', 'list'), { machines: [{ kind: 'builtin' }] });
  await json(t, 'machine-show', Exit.Ok, 'machine', 'show', 'qemu-board.json');
  await json(t, 'machine-show', Exit.Ok, 'machine', 'show', 'amd64-bios');
  writeFileSync(join(dir, 'machine-probe.elf'), buildProbeKernel('arm64', { mode: 'rescue' }));
  const rd = await json(
    t,
    'machine-rescue-dtb',
    Exit.Ok,
    'machine',
    'rescue-dtb',
    'qemu-board.json',
    'machine-probe.elf',
    '-o',
    'qemu-board.rescue.dtb',
  );
  t.equal(rd['bytes'], readFileSync(join(dir, 'qemu-board.rescue.dtb')).length);
});

t.test(
  '--host: load, unload, status, plan --print-reservation-size, exec of the last host load',
  { skip },
  async (t) => {
    if (process.platform !== 'linux') return;
    const arch: Arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    writeFileSync(join(dir, 'host-probe.elf'), buildProbeKernel(arch, { mode: 'rescue' }));
    const st = ['--state', 'host-state'];
    const dry = await json(t, 'host-load', Exit.Ok, 'load', '--host', '--crash', 'host-probe.elf', '--dry-run', ...st);
    t.match(dry, { called: false, event: { command: 'load', dryRun: true, result: { ok: true } } });
    t.same(
      validateJson('host-journal', { version: 1, events: [dry['event']] }),
      [],
      'the event is a host-journal event',
    );
    const real = realKexecRefusal() === undefined;
    if (real) {
      const r = await kboot('--json', 'load', '--host', '--crash', 'host-probe.elf', ...st);
      const o = check(t, 'host-load', r, 'kboot load --host --crash');
      t.equal(o['called'], true, 'a real call was made');
      check(t, 'host-unload', await kboot('--json', 'unload', '--host', '--crash', ...st), 'kboot unload --host');
    }
    const status = await kboot('--json', 'status', '--host', ...st);
    const so = check(t, 'host-status', status, 'kboot status --host');
    t.equal(status.code, so['armed'] === true ? Exit.Ok : Exit.Failure, 'exit 0 when armed, 1 when not');
    await json(
      t,
      'host-reservation',
      Exit.Ok,
      'plan',
      '--crash',
      '--host',
      '--print-reservation-size',
      'host-probe.elf',
      ...st,
    );
    const ex = await json(t, 'exec', Exit.Ok, 'exec', '--segments-from-last-host-load', ...st);
    t.match(ex, { path: 'rescue', ok: true, hostLoad: { dryRun: !real } });
  },
);

t.test('failing commands print {"error": {...}}', { skip }, async (t) => {
  writeFileSync(join(dir, 'notes.txt'), 'not an ELF\n');
  for (const [argv, exit, code] of [
    [['inspect', 'no-such-file'], 1, 'IO_NOT_FOUND'],
    [['exec', 'notes.txt'], 1, 'ELF_BAD_MAGIC'],
    [['probe-kernel', '--arch', 'mips', '-o', 'x.elf'], Exit.Usage, 'CLI_USAGE'],
    [['status', '--state', 'never-booted'], Exit.Usage, 'CLI_USAGE'],
    [['panic', '--dump-dir', 'no-such-dir', '--state', 'state-kld-amd64'], 1, 'IO_NOT_FOUND'],
    [['load', '--crash', 'notes.txt', '--state', 'state-kexec-amd64'], 1, 'ELF_BAD_MAGIC'],
  ] as const) {
    const e = await json(t, 'error', exit, ...argv);
    t.match(e, { error: { code } }, `${argv.join(' ')}: ${code}`);
  }
});

t.test('the schemas are strict enough to reject wrong output', async (t) => {
  const bad = (schema: string, value: unknown, why: string): void => {
    t.not(validateJson(schema, value).length, 0, `${schema}: rejects ${why}`);
  };
  const probeKernel = { file: 'r.elf', arch: 'amd64', size: 1, entry: '0xffffffff80201000', reportOffset: '0x3000' };
  t.same(validateJson('probe-kernel', probeKernel), []);
  bad('probe-kernel', { ...probeKernel, entry: '0xFFFFFFFF80201000' }, 'upper-case hex');
  bad('probe-kernel', { ...probeKernel, entry: '0xffff000000001000' }, 'an arm64 entry for amd64');
  bad('probe-kernel', { ...probeKernel, extra: true }, 'an unknown property');
  const status = {
    machine: 'amd64-efi',
    strategy: 'kld',
    phase: 'running',
    userspace: true,
    armed: null,
    normalImageLoaded: false,
    reservation: { start: '0x77400000', size: '0x8204000' },
  };
  t.same(validateJson('status', status), []);
  bad('status', { ...status, strategy: 'kdump' }, 'an unknown strategy');
  bad('status', { ...status, phase: 'SI_SUB_DRIVERS' }, 'an unknown phase');
  bad('status', { ...status, phase: 'drivers' }, 'userspace before init');
  const stop = { executed: 3, elapsedMs: 1.5, accelerated: { copies: 0, bytes: 0 }, kind: 'reached', pc: '0x1000' };
  const panic = {
    strategy: 'kld',
    phase: 'running',
    rescued: true,
    armedAt: 'SI_SUB_VM_CONF',
    jump: { stop, reached: true, stopAt: '0x1000' },
    console: [],
  };
  t.same(validateJson('panic', panic), []);
  bad('panic', { ...panic, jump: undefined }, 'a rescue without a jump');
  bad('panic', { ...panic, jump: { ...panic.jump, stop: { ...stop, kind: 'crashed' } } }, 'an unknown stop kind');
  bad('panic', { ...panic, jump: { ...panic.jump, stop: { ...stop, vector: 14 } } }, 'a vector on a reached stop');
  bad(
    'panic',
    { ...panic, dump: { format: 'minidump', size: '0x1000', pages: 1, changedPages: [], devices: [] } },
    'a dump saved nowhere',
  );
  bad('panic', { ...panic, rescued: false }, 'not rescued with a jump that arrived');
  bad(
    'error',
    { error: { name: 'CliError', domain: 'cli', code: 'cli_io', message: 'x', details: {} } },
    'a lower-case code',
  );
});

t.test('every command has a schema, and every schema here was exercised', async (t) => {
  t.ok(commands.length >= 12, `kboot --help lists the commands (${commands.join(', ')})`);
  t.ok(
    ['dump-inspect', 'dump-read', 'dump-info'].every((c) => commands.includes(c)),
    'dump subcommands are dump-<sub>',
  );
  for (const c of commands) t.ok(existsSync(packagePath('schemas', `${c}.schema.json`)), `schemas/${c}.schema.json`);
  t.ok(existsSync(packagePath('schemas', 'error.schema.json')), 'schemas/error.schema.json');
  for (const f of readdirSync(packagePath('schemas')).filter((n) => n.endsWith('.schema.json'))) {
    const name = f.replace(/\.schema\.json$/, '');
    t.doesNotThrow(() => validateJson(name, {}), `${f} compiles`);
  }

  for (const [name, { argv, run }] of slow) {
    const r = await run;
    t.equal(r.code, Exit.Ok, `kboot ${argv.join(' ')}: exit 0${r.code === 0 ? '' : ` (${r.err.slice(0, 400)})`}`);
    check(t, name, r, `kboot ${argv.join(' ')}`);
  }
  if (skip !== false) return;
  const missed = commands.filter((c) => !validated.has(c));
  t.same(missed, [], 'every listed command was run with --json above');
});
