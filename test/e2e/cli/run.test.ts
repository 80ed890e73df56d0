// The CLI's error policy: one line per KbootError (exit 1), JSON with --json, usage errors
// exit 2, unexpected exceptions exit 70 with a bug-report line. Runs the built executable too.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { IoCode, IoError } from '../../../loader/errors.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, kbootVersion, runCli } from '../../../cli/run.js';
import { packageRoot } from '../../../native/binding.js';
import { validateJson } from '../../../loader/schema.js';
import { CliError, CliCode } from '../../../cli/errors.js';

const failing = (program: import('commander').Command): void => {
  program.command('fail-kboot').action(() => {
    throw new IoError(IoCode.Read, 'io: nothing to do (x=0x10)', { x: 16n });
  });
  program.command('fail-usage').action(() => {
    throw new CliError(CliCode.Usage, 'cli: --a and --b exclude each other', {});
  });
  program.command('fail-bug').action(() => {
    throw new TypeError('oops');
  });
};

t.test('--version and --help exit 0', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['--version'], io), Exit.Ok);
  t.equal(io.stdout().trim(), kbootVersion());
  const io2 = memoryIo();
  t.equal(await runCli(['--help'], io2), Exit.Ok);
  t.match(io2.stdout(), /Usage: kboot/);
  t.match(io2.stdout(), /--json/);
  t.match(io2.stdout(), /--verbose/);
});

t.test('a KbootError prints one line and exits 1', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['fail-kboot'], io, failing), Exit.Failure);
  t.equal(io.stderr(), 'kboot: io: nothing to do (x=0x10)\n');
  const v = memoryIo();
  t.equal(await runCli(['--verbose', 'fail-kboot'], v, failing), Exit.Failure);
  t.match(v.stderr(), /code: IO_READ/);
  t.match(v.stderr(), /"x":"0x10"/);
});

t.test("a command's own usage error (CLI_USAGE) exits 2 with one line", async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['fail-usage'], io, failing), Exit.Usage);
  t.equal(io.stderr(), 'kboot: cli: --a and --b exclude each other\n');
});

t.test('--json prints the error as JSON', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['--json', 'fail-kboot'], io, failing), Exit.Failure);
  const parsed = JSON.parse(io.stdout()) as { error: { code: string; domain: string; details: { x: string } } };
  t.equal(parsed.error.code, 'IO_READ');
  t.equal(parsed.error.domain, 'io');
  t.equal(parsed.error.details.x, '0x10');
});

t.test('usage errors exit 2; bugs exit 70', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['--no-such-option'], io), Exit.Usage);
  t.match(io.stderr(), /^kboot: unknown option/);
  const b = memoryIo();
  t.equal(await runCli(['fail-bug'], b, failing), Exit.Bug);
  t.match(b.stderr(), /internal error \(a bug/);
  t.match(b.stderr(), /TypeError: oops/);
});

t.test('the built executable', (t) => {
  const bin = join(packageRoot(), 'dist', 'cli', 'main.js');
  t.equal(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim(), kbootVersion());
  const r = spawnSync(process.execPath, [bin, '--bogus'], { encoding: 'utf8' });
  t.equal(r.status, 2);
  t.end();
});

t.test('--json: a usage error found by the parser is an error object on stdout too (exit 2)', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['--json', 'inspect', '--no-such-option', 'x'], io), Exit.Usage);
  const parsed = JSON.parse(io.stdout()) as { error: { code: string; message: string } };
  t.equal(parsed.error.code, 'CLI_USAGE');
  t.match(parsed.error.message, /unknown option/);
  t.same(validateJson('error', parsed), [], 'schemas/error.schema.json');
  t.match(io.stderr(), /unknown option/, 'commander still says it on stderr');
});

t.test("a value outside an option's .choices() is a one-line usage error; --help lists the choices", async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['boot', '--strategy', 'warm', '--rescue', 'x.elf'], io), Exit.Usage);
  t.match(
    io.stderr(),
    /^kboot: option '--strategy <how>' argument 'warm' is invalid\. Allowed choices are embed, kld, kexec\.\n$/,
  );
  t.equal(io.stdout(), '');
  const j = memoryIo();
  t.equal(await runCli(['--json', 'panic', '--compress', 'lz4'], j), Exit.Usage);
  t.equal(j.stderr(), '', 'with --json nothing on stderr');
  const parsed = JSON.parse(j.stdout()) as { error: { code: string; details: { commander: string } } };
  t.equal(parsed.error.code, 'CLI_USAGE');
  t.equal(parsed.error.details.commander, 'commander.invalidArgument');
  const help = memoryIo();
  t.equal(await runCli(['panic', '--help'], help), Exit.Ok);
  t.match(
    help.stdout().replace(/\s+/g, ' '),
    /--fault <name\.\.\.> faults during the dump \(choices: "dma", "its", "second-panic", "full-target"\)/,
  );
});
