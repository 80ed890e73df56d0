// `kboot inspect`: text and --json output for a FreeBSD-layout kernel and a non-rescue ELF,
// the JSON checked against schemas/inspect.schema.json (ajv through loader/schema.ts), and
// the errors for a missing file and a non-ELF file. Runs in-process, plus once through the
// built executable.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { KernelVa } from '../../../loader/addr.js';
import { PF, writeElf } from '../../../loader/elf/index.js';
import { validateJson } from '../../../loader/schema.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { packageRoot } from '../../../loader/paths.js';
import type { InspectReport } from '../../../cli/actions/inspect.js';
import { freebsdKernelSpec } from '../../unit/loader/elf/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-inspect-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const kernel = join(dir, 'kernel-arm64');
writeFileSync(kernel, writeElf(freebsdKernelSpec('arm64')));
const program = join(dir, 'a.out');
writeFileSync(
  program,
  writeElf({
    arch: 'amd64',
    type: 'exec',
    entry: 0x40_1000n as KernelVa,
    segments: [{ type: 'load', flags: PF.R | PF.X, vaddr: 0x40_1000n as KernelVa, data: new Uint8Array(0x80) }],
  }),
);
const notElf = join(dir, 'notes.txt');
writeFileSync(notElf, 'hello\n');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

t.test('text output for a rescue-compatible kernel', async (t) => {
  const r = await run(['inspect', kernel]);
  t.equal(r.code, Exit.Ok);
  t.equal(r.err, '');
  t.match(r.out, /arch\s+arm64 \(e_machine 0xb7\)/);
  t.match(r.out, /type\s+exec \(ET_EXEC\), OS\/ABI FreeBSD/);
  t.match(r.out, /entry\s+0xffff000000001000/);
  t.match(r.out, /load segments \(2\):/);
  t.match(r.out, /0\s+0xffff000000000000\s+0xffff000000000000\s+0x00000000\s+0x00003000\s+0x00003000\s+R-X/);
  t.match(r.out, /1\s+0xffff000000003000\s+0xffff000000003000\s+0x00003000\s+0x00001000\s+0x00003000\s+RW-/);
  t.match(r.out, /symbols\s+4 \(\.symtab\)/);
  t.match(r.out, /load\s+0x6000 bytes in memory, 0x4000 from the file/);
  t.match(r.out, /rescue\s+compatible/);
});

t.test('text output lists every rescue problem', async (t) => {
  const r = await run(['inspect', 'a.out']); // relative to the io's cwd
  t.equal(r.code, Exit.Ok, 'the verdict does not change the exit status');
  t.match(r.out, /rescue\s+NOT compatible \(2 problems\):/);
  t.match(r.out, /- \[file-layout\] elf: PT_LOAD #0/);
  t.match(r.out, /- \[link-address\] elf: PT_LOAD #0/);
});

t.test('--json output is schema-valid and carries the facts', async (t) => {
  for (const file of [kernel, program]) {
    const r = await run(['--json', 'inspect', file]);
    t.equal(r.code, Exit.Ok);
    const report = JSON.parse(r.out) as InspectReport;
    t.same(validateJson('inspect', report), [], `${file}: valid against inspect.schema.json`);
  }
  const k = JSON.parse((await run(['inspect', '--json', kernel])).out) as InspectReport;
  t.equal(k.arch, 'arm64');
  t.equal(k.entry, '0xffff000000001000');
  t.same(k.loadSegments[1], {
    index: 1,
    vaddr: '0xffff000000003000',
    paddr: '0xffff000000003000',
    offset: '0x3000',
    filesz: '0x1000',
    memsz: '0x3000',
    align: '0x200000',
    flags: 'RW-',
  });
  t.same(k.symbols, { count: 4, source: 'symtab' });
  t.equal(k.load.memSize, '0x6000');
  t.equal(k.rescue.ok, true);
  const p = JSON.parse((await run(['--json', 'inspect', program])).out) as InspectReport;
  t.equal(p.rescue.ok, false);
  t.same(
    p.rescue.problems.map((x) => x.rule),
    ['file-layout', 'link-address'],
  );
  t.match(p.rescue.problems[0]?.details, { vaddr: '0x401000', kernstart: '0xffffffff80200000' });
  t.same(validateJson('inspect', { ...k, extra: 1 }).length > 0, true, 'the schema rejects unknown properties');
  t.same(validateJson('inspect', { ...k, entry: '401000' }).length > 0, true, 'the schema wants 0x hex');
});

t.test('a missing file is IO_NOT_FOUND, a directory IO_NOT_REGULAR; a non-ELF file is its ElfError', async (t) => {
  const missing = await run(['inspect', join(dir, 'nope')]);
  t.equal(missing.code, Exit.Failure);
  t.match(missing.err, /^kboot: io: [^\n]*nope[^\n]*\n$/, 'one line naming the file');
  const mj = await run(['--json', 'inspect', join(dir, 'nope')]);
  const err = (JSON.parse(mj.out) as { error: { code: string; details: { reason: string } } }).error;
  t.equal(err.code, 'IO_NOT_FOUND');
  t.equal(err.details.reason, 'ENOENT');
  const isDir = await run(['--json', 'inspect', dir]);
  t.equal((JSON.parse(isDir.out) as { error: { code: string } }).error.code, 'IO_NOT_REGULAR', 'a directory');
  const bad = await run(['--json', 'inspect', notElf]);
  t.equal(bad.code, Exit.Failure);
  t.equal((JSON.parse(bad.out) as { error: { code: string } }).error.code, 'ELF_BAD_MAGIC');
  const usage = await run(['inspect']);
  t.equal(usage.code, Exit.Usage, 'the argument is required');
});

t.test('the built executable', (t) => {
  const bin = join(packageRoot(), 'dist', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [bin, 'inspect', '--json', kernel], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same(validateJson('inspect', JSON.parse(r.stdout)), []);
  const m = spawnSync(process.execPath, [bin, 'inspect', join(dir, 'nope')], { encoding: 'utf8' });
  t.equal(m.status, 1);
  t.end();
});
