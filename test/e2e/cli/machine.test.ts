// kboot machine import / list / show / rescue-dtb through the command line (in-process), on
// the real board DTBs of test/fixtures/dtb and on the machine the tests run on:
//  - boards of at least 8 vendors import, and `kboot plan --crash probe.elf --machine
//    BOARD.json` either plans or fails with the D47358 rule the board breaks
//    (PLAN_FIRMWARE_MAP: the -FDT_ERR_NOSPACE of a multi-range /memory reg, several memory
//    nodes);
//  - three boards (HiSilicon D05 with 8 ITS, NXP i.MX8MQ, Marvell MACCHIATObin) go through
//    `kboot boot` + `kboot panic --dump-dir` with the probe's report complete and a dump saved,
//    and through `kboot exec --crash`;
//  - `--host` gives a profile whose RAM is /sys/firmware/memmap's "System RAM" (rounded
//    inward to pages, the exact entries kept in board.firmwareMap), and `plan --crash` works on
//    it; `machine list`, `show` and the usage errors.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { packagePath } from '../../../loader/paths.js';
import { validateJson } from '../../../loader/schema.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { nativeAvailable } from '../../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-machine-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (n: string): string => packagePath('test', 'fixtures', 'dtb', `${n}.dtb`);

async function kboot(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}
type Json = Record<string, unknown>;
const parse = (s: string): Json => JSON.parse(s) as Json;

const BOARDS: readonly (readonly [string, readonly string[]])[] = [
  ['allwinner_sun50i-a64-pine64-plus', ['--memory', '0x40000000:2G']],
  ['amd_amd-overdrive-rev-b1', ['--memory', '0x8000000000:8G']],
  ['amlogic_meson-g12b-odroid-n2', []],
  ['apm_apm-mustang', []],
  ['arm_fvp-base-revc', []],
  ['arm_juno-r2', []],
  ['broadcom_bcm2711-rpi-4-b', ['--memory', '0:0x3b400000']],
  ['cavium_thunder-88xx', []],
  ['freescale_imx8mq-evk', []],
  ['hisilicon_hip07-d05', []],
  ['marvell_armada-8040-mcbin', []],
  ['rockchip_rk3399-rockpro64', ['--memory', '0x200000:0xf7e00000']],
  ['xilinx_zynqmp-zcu102-rev1.0', []],
  ['qemu-virt-numa', []],
];
/** The boards D47358 cannot hand off on, and why. */
const BREAKS: Readonly<Record<string, string>> = {
  'arm_fvp-base-revc': 'memory-reg-inplace',
  'arm_juno-r2': 'memory-reg-inplace',
  'xilinx_zynqmp-zcu102-rev1.0': 'memory-reg-inplace',
  'qemu-virt-numa': 'single-memory-node',
};

t.test('real boards import; plan --crash plans or names the rule broken', async (t) => {
  writeFileSync(join(dir, 'probe.elf'), buildProbeKernel('arm64', { mode: 'rescue' }));
  const vendors = new Set<string>();
  for (const [board, extra] of BOARDS) {
    const imp = await kboot('--json', 'machine', 'import', '--dtb', fixture(board), ...extra);
    t.equal(imp.code, Exit.Ok, `${board}: imported ${imp.err}${imp.out.slice(0, 300)}`);
    const j = parse(imp.out);
    t.same(validateJson('machine-import', j), [], `${board}: machine-import.schema.json`);
    const file = String(j['written']);
    t.same(
      validateJson('machine', JSON.parse(readFileSync(file, 'utf8'))),
      [],
      `${board}: the written profile is schema-valid`,
    );
    const prov = JSON.parse(readFileSync(file, 'utf8')).provenance as { command: string; inputs: { sha256: string }[] };
    t.match(prov.command, /^kboot machine import --dtb /);
    t.equal(prov.inputs[0]?.sha256.length, 64);
    const rules = ((j['machine'] as Json)['rescueRules'] as { rules: { rule: string; status: string }[] }).rules;
    const plan = await kboot('--json', 'plan', '--crash', 'probe.elf', '--machine', file);
    const broken = BREAKS[board];
    if (broken === undefined) {
      t.equal(plan.code, Exit.Ok, `${board}: plans`);
      t.same(validateJson('plan', parse(plan.out)), []);
      t.notOk(
        rules.some((r) => r.status === 'fails'),
        `${board}: no rule fails`,
      );
    } else {
      t.equal(plan.code, 1, `${board}: does not plan`);
      t.match(parse(plan.out), { error: { code: 'PLAN_FIRMWARE_MAP' } });
      t.equal(rules.find((r) => r.rule === broken)?.status, 'fails', `${board}: ${broken} fails`);
    }
    if (!board.startsWith('qemu')) vendors.add(board.split('_')[0] ?? board);
  }
  t.ok(vendors.size >= 8, `${vendors.size} vendors`);
});

t.test('three boards boot, panic and dump on the emulated CPU with a complete probe report', { skip }, async (t) => {
  for (const [board, uart] of [
    ['hisilicon_hip07-d05', '0x602b0000'],
    ['freescale_imx8mq-evk', '0x30860000'],
    ['marvell_armada-8040-mcbin', '0xf0512000'],
  ] as const) {
    const profile = join(dir, `${board}.json`);
    if (!existsSync(profile)) t.equal((await kboot('machine', 'import', '--dtb', fixture(board))).code, Exit.Ok);
    const shown = parse((await kboot('--json', 'machine', 'show', profile)).out);
    t.equal(((shown['devices'] as Json)['uart'] as Json)['base'], uart, `${board}: the console at the board UART`);
    const rescue = join(dir, `probe-${board}.elf`);
    t.equal((await kboot('probe-kernel', '--arch', 'arm64', '--uart-base', uart, '-o', rescue)).code, Exit.Ok);
    const state = join(dir, `state-${board}`);
    const boot = await kboot('boot', '--machine', profile, '--strategy', 'kld', '--rescue', rescue, '--state', state);
    t.equal(boot.code, Exit.Ok, `${board}: boot ${boot.err}`);
    const crash = join(dir, `crash-${board}`);
    mkdirSync(crash);
    const panic = await kboot('--json', 'panic', '--state', state, '--dump-dir', crash, '--no-progress');
    t.equal(panic.code, Exit.Ok, `${board}: panic ${panic.err}`);
    const j = parse(panic.out);
    t.same(validateJson('panic', j), []);
    t.match(
      j,
      { rescued: true, probe: { complete: true }, dump: { status: 'good' } },
      `${board}: rescued, probe complete, dump good`,
    );
    t.match(String((j['console'] as string[] | undefined)?.join('\n') ?? ''), /kboot probe: ok arch=arm64 mode=rescue/);
    t.ok(readdirSync(crash).includes('vmcore.0'));
    const exec = await kboot('--json', 'exec', rescue, '--machine', profile, '--crash');
    t.equal(exec.code, Exit.Ok, `${board}: exec --crash`);
    t.match(parse(exec.out), { ok: true, probe: { report: { mode: 'rescue', complete: true } } });
  }
});

function memmapSystemRam(): [bigint, bigint][] {
  const d = '/sys/firmware/memmap';
  return readdirSync(d)
    .map(
      (n) =>
        [
          readFileSync(join(d, n, 'type'), 'utf8').trim(),
          BigInt(readFileSync(join(d, n, 'start'), 'utf8').trim()),
          BigInt(readFileSync(join(d, n, 'end'), 'utf8').trim()),
        ] as const,
    )
    .filter(([type]) => type === 'System RAM')
    .map(([, s, e]): [bigint, bigint] => [s, e])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

t.test(
  "--host: RAM is /sys/firmware/memmap's System RAM; plan --crash works",
  { skip: existsSync('/sys/firmware/memmap') && process.arch === 'x64' ? false : 'no /sys/firmware/memmap here' },
  async (t) => {
    const imp = await kboot('--json', 'machine', 'import', '--host', '--name', 'this-host');
    t.equal(imp.code, Exit.Ok, imp.out.slice(0, 400));
    const profile = JSON.parse(readFileSync(join(dir, 'this-host.json'), 'utf8')) as {
      ram: { base: string; size: string }[];
      board: { firmwareMap: { start: string; end: string; type: string }[] };
      provenance: { inputs: { kind: string }[] };
    };
    const want = memmapSystemRam();
    t.same(
      profile.board.firmwareMap.filter((e) => e.type === 'System RAM').map((e) => [BigInt(e.start), BigInt(e.end)]),
      want,
      'the System RAM entries, exactly as read',
    );
    const page = 0xfffn;
    const rounded = want.map(([s, e]) => [(s + page) & ~page, (e + 1n) & ~page] as const).filter(([s, e]) => e > s);
    t.same(
      profile.ram.map((r) => [BigInt(r.base), BigInt(r.base) + BigInt(r.size)]),
      rounded,
      'the profile RAM: the same ranges, on whole pages',
    );
    t.ok(profile.provenance.inputs.some((i) => i.kind === 'memmap'));
    writeFileSync(join(dir, 'probe64.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
    const plan = await kboot('--json', 'plan', '--crash', 'probe64.elf', '--machine', 'this-host.json');
    t.equal(plan.code, Exit.Ok, plan.out.slice(0, 300));
    t.same(validateJson('plan', parse(plan.out)), []);
  },
);

t.test('list, show, rescue-dtb and usage errors', async (t) => {
  const list = await kboot('--json', 'machine', 'list');
  t.equal(list.code, Exit.Ok);
  const l = parse(list.out);
  t.same(validateJson('machine-list', l), []);
  const rows = l['machines'] as { name: string; kind: string }[];
  t.ok(rows.some((r) => r.name === 'arm64-fdt' && r.kind === 'builtin'));
  t.ok(rows.some((r) => r.name === 'arm_juno-r2' && r.kind === 'imported'));
  t.match((await kboot('machine', 'list')).out, /^arm_juno-r2 +imported +arm64 +fdt/m, 'one line each');
  const show = await kboot('machine', 'show', 'arm_juno-r2.json');
  t.match(show.out, /FAILS +memory-reg-inplace/);
  t.match(show.out, /provenance\n {2}command {2}kboot machine import --dtb/);
  const builtin = parse((await kboot('--json', 'machine', 'show', 'amd64-efi')).out);
  t.same(validateJson('machine-show', builtin), []);
  const rd = await kboot(
    '--json',
    'machine',
    'rescue-dtb',
    'cavium_thunder-88xx.json',
    'probe.elf',
    '-o',
    'rescue.dtb',
  );
  t.equal(rd.code, Exit.Ok, rd.out);
  t.same(validateJson('machine-rescue-dtb', parse(rd.out)), []);
  const usage = async (argv: string[], code: string): Promise<void> => {
    const r = await kboot('--json', ...argv);
    t.match(parse(r.out), { error: { code } }, `${argv.join(' ')}: ${code}`);
  };
  await usage(['machine', 'import', '--dtb', fixture('arm_juno-r2'), '--memory', '0x80000000'], 'CLI_USAGE');
  await usage(['machine', 'import', '--dtb', fixture('arm_juno-r2'), '--host'], 'CLI_USAGE');
  await usage(['machine', 'import'], 'CLI_USAGE');
  await usage(['machine', 'import', '--iomem', 'x', '--memory', '0:1G'], 'CLI_USAGE');
  await usage(['machine', 'import', '--dtb', fixture('arm_juno-r2')], 'IO_EXISTS');
  await usage(
    ['machine', 'import', '--dtb', fixture('broadcom_bcm2711-rpi-4-b'), '-o', 'rpi.json'],
    'IMPORT_NO_MEMORY',
  );
  await usage(['machine', 'import', '--dtb', join(dir, 'probe.elf'), '-o', 'elf.json'], 'FDT_BAD_MAGIC');
  await usage(['machine', 'rescue-dtb', 'amd64-efi', 'probe.elf', '-o', 'x.dtb'], 'CLI_USAGE');
  t.equal(
    (await kboot('machine', 'import', '--dtb', fixture('arm_juno-r2'), '--force')).code,
    Exit.Ok,
    '--force replaces',
  );
  const stdout = await kboot('machine', 'import', '--dtb', fixture('qemu-virt-gicv2'), '-o', '-');
  t.same(validateJson('machine', JSON.parse(stdout.out)), [], '-o - prints the profile');
  t.match(stdout.err, /machine qemu-virt-gicv2 \(arm64, fdt, 2 CPUs\)/, 'and the summary on stderr');
});
