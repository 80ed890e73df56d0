// `kboot embed`: the output carries the rescue kernel (read back through rescue_start/rescue_end),
// existing files are never replaced without --force, and bad inputs exit 1 with their code.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { extractEmbeddedRescue } from '../../../loader/embed/index.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-embed-'));
const host = join(dir, 'host.elf');
const rescue = join(dir, 'rescue.elf');
const armRescue = join(dir, 'rescue-arm64.elf');
writeFileSync(host, buildProbeKernel('amd64', { mode: 'kexec' })); // any FreeBSD-layout ELF with a .symtab
writeFileSync(rescue, buildProbeKernel('amd64', { mode: 'rescue' }));
writeFileSync(armRescue, buildProbeKernel('arm64', { mode: 'rescue' }));

t.test('embeds, and refuses to replace without --force', async (t) => {
  const out = join(dir, 'kernel.rescue');
  const io = memoryIo();
  t.equal(await runCli(['embed', '--host', host, '--rescue', rescue, '-o', out], io), Exit.Ok, io.stderr());
  t.match(io.stdout(), /^wrote .*kernel\.rescue: host\.elf with rescue\.elf embedded/);
  const found = extractEmbeddedRescue(readFileSync(out));
  t.ok(Buffer.from(found.bytes).equals(readFileSync(rescue)), 'the rescue kernel reads back byte for byte');
  const again = memoryIo();
  t.equal(await runCli(['--json', 'embed', '--host', host, '--rescue', rescue, '-o', out], again), Exit.Failure);
  t.equal((JSON.parse(again.stdout()) as { error: { code: string } }).error.code, 'IO_EXISTS');
  const forced = memoryIo();
  t.equal(await runCli(['--json', 'embed', '--host', host, '--rescue', rescue, '-o', out, '--force'], forced), Exit.Ok);
  const j = JSON.parse(forced.stdout()) as { rescueBytes: number; rescueStart: string };
  t.equal(j.rescueBytes, readFileSync(rescue).length);
  t.match(j.rescueStart, /^0x[0-9a-f]+$/);
  t.same(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left behind',
  );
});

t.test('bad inputs exit 1 with their code, writing nothing', async (t) => {
  const out = join(dir, 'bad.rescue');
  for (const [argv, code] of [
    [['embed', '--host', host, '--rescue', armRescue, '-o', out], 'EMBED_ARCH_MISMATCH'],
    [['embed', '--host', join(dir, 'nope'), '--rescue', rescue, '-o', out], 'IO_NOT_FOUND'],
  ] as const) {
    const io = memoryIo();
    t.equal(await runCli(['--json', ...argv], io), Exit.Failure);
    t.equal((JSON.parse(io.stdout()) as { error: { code: string } }).error.code, code);
    t.notOk(existsSync(out), 'no output');
  }
});
