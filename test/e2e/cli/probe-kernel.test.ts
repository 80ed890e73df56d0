// `kboot probe-kernel` (cli/commands/probe-kernel.ts, cli/actions/probe-kernel.ts; kept beside the probe tests): writes
// the ELF with mode 0644 whatever the umask, refuses to overwrite without --force (and
// leaves the old file alone), leaves no temporary file behind, prints size/entry/report
// offset (or JSON), and maps bad options to CLI_USAGE / PROBE_BAD_OPTION. The file it writes
// is a probe `kboot inspect` calls rescue-compatible. Runs in-process, plus once through the
// built executable.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { packagePath } from '../../../loader/paths.js';
import { buildProbeKernel, PROBE_REPORT_OFFSET, probeEntryVa } from '../../../kernels/probe/index.js';
import type { ProbeKernelReport } from '../../../cli/actions/probe-kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-probe-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

t.test('writes the probe with mode 0644 and says what it wrote', async (t) => {
  const old = process.umask(0o077);
  try {
    const r = await run(['probe-kernel', '--arch', 'amd64', '-o', 'p64.elf']);
    t.equal(r.code, Exit.Ok, r.err);
    const bytes = readFileSync(join(dir, 'p64.elf'));
    t.same(new Uint8Array(bytes), buildProbeKernel('amd64'), 'the default build (rescue mode, COM1)');
    t.equal(statSync(join(dir, 'p64.elf')).mode & 0o777, 0o644, 'mode 0644 under umask 077');
    t.match(r.out, new RegExp(`^wrote p64\\.elf: amd64 probe kernel \\(mode rescue\\), ${bytes.length} bytes`));
    t.match(r.out, /entry 0xffffffff80201000/);
    t.match(r.out, /report at file offset 0x3000/);
  } finally {
    process.umask(old);
  }
  const i = await run(['inspect', 'p64.elf']);
  t.match(i.out, /rescue\s+compatible/, 'kboot inspect calls it rescue-compatible');
});

t.test('--json, --mode and --uart-base', async (t) => {
  const r = await run([
    '--json',
    'probe-kernel',
    '--arch',
    'arm64',
    '-o',
    'parm.elf',
    '--mode',
    'kexec',
    '--uart-base',
    '0x1c090000',
  ]);
  t.equal(r.code, Exit.Ok, r.err);
  const j = JSON.parse(r.out) as ProbeKernelReport;
  const bytes = buildProbeKernel('arm64', { mode: 'kexec', uartBase: 0x1c09_0000n });
  t.same(j, {
    file: 'parm.elf',
    arch: 'arm64',
    size: bytes.length,
    entry: `0x${probeEntryVa('arm64').toString(16)}`,
    reportOffset: `0x${PROBE_REPORT_OFFSET.toString(16)}`,
  });
  t.same(new Uint8Array(readFileSync(join(dir, 'parm.elf'))), bytes, 'the options reach the build');
});

t.test('refuses to overwrite without --force; --force replaces; no temporary file is left', async (t) => {
  const file = join(dir, 'keep.elf');
  writeFileSync(file, 'precious');
  const r = await run(['probe-kernel', '--arch', 'amd64', '-o', 'keep.elf']);
  t.equal(r.code, Exit.Failure);
  t.match(r.err, /^kboot: io: keep\.elf already exists \(use --force to replace it\)\n$/);
  t.equal(readFileSync(file, 'utf8'), 'precious', 'the old file is untouched');
  const j = await run(['--json', 'probe-kernel', '--arch', 'amd64', '-o', 'keep.elf']);
  t.equal(
    (JSON.parse(j.out) as { error: { code: string; details: { reason: string } } }).error.details.reason,
    'EEXIST',
  );
  const f = await run(['probe-kernel', '--arch', 'amd64', '-o', 'keep.elf', '--force']);
  t.equal(f.code, Exit.Ok, f.err);
  t.same(new Uint8Array(readFileSync(file)), buildProbeKernel('amd64'));
  t.same(
    readdirSync(dir).filter((n) => n.startsWith('.')),
    [],
    'no temporary files',
  );
});

t.test('bad options', async (t) => {
  const cases: [string[], string][] = [
    [['probe-kernel', '--arch', 'mips', '-o', 'x.elf'], 'CLI_USAGE'],
    [['probe-kernel', '--arch', 'amd64', '-o', 'x.elf', '--mode', 'warm'], 'CLI_USAGE'],
    [['probe-kernel', '--arch', 'amd64', '-o', 'x.elf', '--uart-base', 'com1'], 'CLI_USAGE'],
    [['probe-kernel', '--arch', 'amd64', '-o', 'x.elf', '--uart-base', '0x10000'], 'PROBE_BAD_OPTION'],
    [['probe-kernel', '--arch', 'arm64', '-o', join('no', 'such', 'dir', 'x.elf')], 'IO_NOT_FOUND'],
  ];
  for (const [argv, code] of cases) {
    const r = await run(argv);
    t.equal(r.code, code === 'CLI_USAGE' ? Exit.Usage : Exit.Failure, argv.join(' '));
    t.match(r.err, /^kboot: [^\n]+\n$/, 'one line');
    const j = await run(['--json', ...argv]);
    t.equal((JSON.parse(j.out) as { error: { code: string } }).error.code, code, `${argv.join(' ')} -> ${code}`);
  }
  t.equal((await run(['probe-kernel', '--arch', 'amd64'])).code, Exit.Usage, 'missing -o is a usage error');
  t.notOk(readdirSync(dir).includes('x.elf'), 'nothing written');
});

t.test('the built executable', async (t) => {
  const r = spawnSync(
    process.execPath,
    [packagePath('dist', 'cli', 'main.js'), 'probe-kernel', '--arch', 'arm64', '-o', 'exe.elf'],
    {
      cwd: dir,
      encoding: 'utf8',
    },
  );
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^wrote exe\.elf: arm64 probe kernel/);
  t.same(new Uint8Array(readFileSync(join(dir, 'exe.elf'))), buildProbeKernel('arm64'));
});
