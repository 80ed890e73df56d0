// `kboot plan`: text, --json (checked against schemas/plan.schema.json with ajv),
// --print-reservation-size, machine selection and error exits.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { validateJson } from '../../../loader/schema.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-cli-plan-'));
const k64 = join(dir, 'rescue-amd64.elf');
const karm = join(dir, 'rescue-arm64.elf');
writeFileSync(k64, makeRescueKernel('amd64'));
writeFileSync(karm, makeRescueKernel('arm64'));

t.test('text output names the reservation, the layout and the hand-off', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['plan', '--crash', k64], io), Exit.Ok, io.stderr());
  const out = io.stdout();
  t.match(out, /on machine amd64-efi \(efi\)/, 'the default machine for an amd64 kernel');
  t.match(out, /^reservation {3}0x[0-9a-f]+-0x[0-9a-f]+ {2}\d+(\.\d+)? MiB/m);
  t.match(out, /why there/);
  t.match(out, /struct rescue_kernel_params \(amd64\)/);
  t.match(out, /EFI memory map copy/);
  t.match(out, /bootstrap page-table pool/);
  t.match(out, /\+0200000 {2}kernel rescue-amd64\.elf/);
  t.match(out, /kern\.smp\.disabled=1/);
});

t.test('--json is valid against the schema, for every built-in machine', async (t) => {
  for (const [file, machine] of [
    [k64, 'amd64-efi'],
    [k64, 'amd64-bios'],
    [karm, 'arm64-fdt'],
    [karm, 'arm64-acpi'],
  ] as const) {
    const io = memoryIo();
    t.equal(await runCli(['--json', 'plan', '--crash', file, '--machine', machine], io), Exit.Ok, io.stderr());
    const json = JSON.parse(io.stdout()) as { machine: { name: string }; reservation: { size: string } };
    t.same(validateJson('plan', json), [], `${machine}: schema-valid`);
    t.equal(json.machine.name, machine);
  }
});

t.test('--print-reservation-size and --memsize', async (t) => {
  const io = memoryIo();
  t.equal(await runCli(['plan', '--crash', k64, '--print-reservation-size', '--memsize', '64M'], io), Exit.Ok);
  const kernelPages = Math.ceil(makeRescueKernel('amd64').length / 4096) * 4096;
  t.equal(io.stdout(), `${64 * 2 ** 20 + kernelPages + 2 * 2 ** 20}\n`);
  const j = memoryIo();
  t.equal(await runCli(['plan', '--crash', k64, '--json', '--memsize', '64M'], j), Exit.Ok);
  t.equal(
    (JSON.parse(j.stdout()) as { reservation: { sizing: { memsizeSource: string } } }).reservation.sizing.memsizeSource,
    'option',
  );
});

t.test('errors exit 1 (usage errors 2) with one line; --json carries the code', async (t) => {
  const cases: [string[], string][] = [
    [['plan', '--crash', join(dir, 'missing.elf')], 'IO_NOT_FOUND'],
    [['plan', '--crash', k64, '--machine', 'arm64-fdt'], 'PLAN_ARCH_MISMATCH'],
    [['plan', '--crash', k64, '--machine', 'nonesuch'], 'CONFIG_NOT_FOUND'],
    [['plan', '--crash', k64, '--memsize', 'lots'], 'CLI_USAGE'],
    [['plan', '--crash', k64, '--at', '0x1000'], 'PLAN_BAD_PLACEMENT'],
    [['plan', '--crash', k64, '--memsize', '64G'], 'PLAN_NO_HOLE'],
    [['plan', '--crash', k64, '--place', 'middle'], 'CLI_USAGE'],
  ];
  for (const [argv, code] of cases) {
    const io = memoryIo();
    t.equal(await runCli(argv, io), code === 'CLI_USAGE' ? Exit.Usage : Exit.Failure, argv.join(' '));
    t.match(io.stderr(), /^kboot: [^\n]+\n/, 'one line');
    const j = memoryIo();
    await runCli(['--json', ...argv], j);
    t.equal((JSON.parse(j.stdout()) as { error: { code: string } }).error.code, code, `${argv.join(' ')} -> ${code}`);
  }
});
