// `kboot dump inspect | read | info --kernel` on dumps FreeBSD wrote and on kboot's own
// (issue 17's acceptance), in-process through runCli:
//  - test/fixtures/freebsd-dumps (lldb's, written by a FreeBSD VM; decompressed with the
//    system bzip2, the symbol file built by yaml2obj): `dump read vmcore --kernel
//    kernel-amd64.elf --sym hz --as u32` prints 100, the value lldb's own test expects;
//    `dump inspect` reports the truncation (5,703,680 bytes, 1,393 data pages) and the zero
//    pages, counted here page by page from the file; a read of a missing page is
//    DUMP_PAGE_MISSING naming the PA and offset; `dump info` summarizes it although its message
//    buffer is empty; `kboot inspect` describes the symbol-only kernel file; an arm64 kernel
//    is refused (DUMP_KERNEL_MISMATCH);
//  - kboot's own minidump of a host built with the generated host kernel ELF: --kernel with
//    that ELF reads `btext` as the ELF's own bytes; --kernel with a probe kernel resolves its
//    symbols; `dump info` of a dump-device image shows the panic string and the message
//    buffer's tail the host model wrote;
//  - `kboot panic --dump-dir` (minidump): `dump info` takes the panic string from info.0;
//    `kboot panic --format elf`, the vmcore cut by `truncate -s`: it opens, reads its present
//    ranges as the whole dump does, and reads past the cut fail with DUMP_PAGE_MISSING.
// Every --json output is checked against its schema.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PhysAddr } from '../../../loader/addr.js';
import { parseElf } from '../../../loader/elf/reader.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { validateJson } from '../../../loader/schema.js';
import { hostKernelElf } from '../../../kernels/host-elf.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { Machine } from '../../../machine/machine.js';
import { buildHostModel, dumpParams, installHost, modelVersionString } from '../../../machine/host/model.js';
import { nativeAvailable } from '../../../native/binding.js';
import { encodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { planMinidump } from '../../../dump/minidump.js';
import { guestMemoryReader } from '../../../dump/source.js';
import { writeDumpFile } from '../../../dump/file.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { makeRescueKernel } from '../../helpers/kernels.js';
import { symbolFile } from '../../helpers/kernel-symbols.js';
import { fixtureSkip, freebsdFixtures } from '../../helpers/freebsd-fixtures.js';

const NATIVE = nativeAvailable() ? {} : { skip: 'the native addon is not built' };
const dir = mkdtempSync(join(tmpdir(), 'kboot-dump-real-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}
/** `kboot --json ARGS`: exit 0 and an object valid against `schema`. */
async function json(t: Test, schema: string, args: string[]): Promise<Json> {
  const r = await run(['--json', ...args]);
  t.equal(r.code, Exit.Ok, `${args.join(' ')}${r.code === Exit.Ok ? '' : `: ${r.out}${r.err}`}`);
  const v = JSON.parse(r.out) as Json;
  t.same(validateJson(schema, v), [], `${args[0] ?? ''} ${args[1] ?? ''}: valid against ${schema}`);
  return v;
}
/** `kboot --json ARGS` failing: its error object. */
async function failure(args: string[]): Promise<{ code: number; error: { code: string; details: Json } }> {
  const r = await run(['--json', ...args]);
  return { code: r.code, error: (JSON.parse(r.out) as { error: { code: string; details: Json } }).error };
}

t.test('a minidump FreeBSD wrote, and its kernel symbols', fixtureSkip(), async (t) => {
  const fx = freebsdFixtures();
  if (fx === undefined) {
    t.fail('bzip2 and yaml2obj are needed (scripts/ensure-deps.sh installs them)');
    return;
  }
  const { vmcore, kernel } = fx;

  const hz = await run(['dump', 'read', vmcore, '--kernel', kernel, '--sym', 'hz', '--as', 'u32']);
  t.equal(hz.code, Exit.Ok, hz.err);
  t.equal(hz.out, '100\n', 'hz reads 100, as lldb expects');
  const r = await json(t, 'dump-read', ['dump', 'read', vmcore, '--kernel', kernel, '--sym', 'hz', '--as', 'u32']);
  t.match(r, {
    value: ['100'],
    pa: '0x1cd4c0c',
    symbol: { name: 'hz', value: '0xffffffff81cd4c0c', size: '0x4', type: 'OBJECT' },
  });

  const i = await json(t, 'dump-inspect', ['dump', 'inspect', vmcore, '--kernel', kernel]);
  t.match(i['truncation'], {
    expectedSize: '0x666a000',
    size: '0x60f9800',
    missingBytes: `0x${(5_703_680).toString(16)}`,
    missingPages: 1393,
  });
  t.match(i['kernel'], { symbolOnly: true, kernbase: '0xffffffff80000000', dumpKernbase: '0xfffffe0000000000' });
  // zero pages counted here: every whole data page in the file (the data start at 0x81a000)
  const fd = openSync(vmcore, 'r');
  const page = Buffer.alloc(0x1000);
  let zeros = 0;
  for (let o = 0x81_a000; o + 0x1000 <= 101_685_248; o += 0x1000) {
    readSync(fd, page, 0, 0x1000, o);
    if (page.every((b) => b === 0)) zeros++;
  }
  closeSync(fd);
  t.equal(i['zeroPages'], zeros, `${zeros} zero pages`);
  const text = await run(['dump', 'inspect', vmcore]);
  t.match(text.out, /TRUNCATED .* 5703680 bytes .* 1393 data pages unreadable/);

  const missing = await failure(['dump', 'read', vmcore, '--pa', '0x798c010', '--len', '4']);
  t.same(missing, {
    code: Exit.Failure,
    error: {
      ...missing.error,
      code: 'DUMP_PAGE_MISSING',
      details: { pa: '0x798c010', offset: '0x60f9000', fileSize: 101_685_248 },
    },
  });

  const info = await json(t, 'dump-info', ['dump', 'info', vmcore, '--kernel', kernel]);
  t.match(info, {
    format: 'minidump',
    formatVersion: 3,
    msgbuf: { lineCount: 0, lines: [] },
    pages: { dumped: 24144, missing: 1393, zero: zeros },
  });
  t.same(
    (info['undetermined'] as { field: string }[]).map((u) => u.field),
    ['dumptime', 'hostname', 'panicString', 'kernelVersion'],
    'what a raw vmcore and this symbol file cannot tell',
  );
  const infoText = await run(['dump', 'info', vmcore]);
  t.equal(infoText.code, Exit.Ok, 'the empty message buffer is no failure');

  const k = await json(t, 'inspect', ['inspect', kernel]);
  t.match(k, { symbolOnly: true, loadSegments: [], symbols: { count: 18, source: 'symtab' }, rescue: { ok: false } });

  writeFileSync(join(dir, 'arm64.elf'), makeRescueKernel('arm64'));
  t.match(await failure(['dump', 'inspect', vmcore, '--kernel', 'arm64.elf']), {
    code: Exit.Failure,
    error: { code: 'DUMP_KERNEL_MISMATCH', details: { kernel: 'arm64', dump: 'amd64' } },
  });
  t.match(await failure(['dump', 'read', vmcore, '--kernel', kernel, '--sym', 'ticks', '--as', 'u32']), {
    error: { code: 'DUMP_NO_SYMBOL', details: { name: 'ticks' } },
  });
});

t.test('kboot inspect: a symbol-only file is described, not refused', async (t) => {
  writeFileSync(
    join(dir, 'syms.elf'),
    symbolFile('arm64', [
      { name: 'kernbase', value: 0xffff_0000_0000_0000n },
      { name: 'hz', value: 0xffff_0000_0100_0000n, size: 4n },
    ]),
  );
  const k = await json(t, 'inspect', ['inspect', 'syms.elf']);
  t.match(k, {
    arch: 'arm64',
    symbolOnly: true,
    loadSegments: [],
    symbols: { count: 2, source: 'symtab' },
    rescue: { ok: false, problems: [{ rule: 'elf-type' }] },
  });
  const text = await run(['inspect', 'syms.elf']);
  t.equal(text.code, Exit.Ok);
  t.match(text.out, /SYMBOL-ONLY/);
  writeFileSync(join(dir, 'arm64.elf'), makeRescueKernel('arm64'));
  const plain = await json(t, 'inspect', ['inspect', 'arm64.elf']);
  t.notOk('symbolOnly' in plain, 'a kernel with PT_LOADs is reported as before');
});

t.test("kboot's own minidump: the host and probe kernels' symbols; dump info", NATIVE, async (t) => {
  const profile = loadProfile('amd64-efi');
  const hostElf = hostKernelElf('amd64', 5);
  writeFileSync(join(dir, 'host.elf'), hostElf);
  writeFileSync(join(dir, 'probe.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
  const model = buildHostModel(profile, { seed: 5, kernel: parseElf(hostElf), allocatedPages: 64 });
  const m = Machine.create(profile);
  t.teardown(() => m.close());
  installHost(m, model);
  const plan = planMinidump({ arch: 'amd64', params: dumpParams(model), readPhys: guestMemoryReader(m.ram) });
  writeDumpFile(join(dir, 'vmcore.own'), plan.chunks());

  const host = parseElf(hostElf);
  const btext = host.symbols.find((s) => s.name === 'btext');
  const text = host.loadSegments[0];
  if (btext === undefined || text === undefined) {
    t.fail('no btext');
    return;
  }
  const r = await json(t, 'dump-read', [
    'dump',
    'read',
    'vmcore.own',
    '--kernel',
    'host.elf',
    '--sym',
    'btext+0x10',
    '--len',
    '64',
  ]);
  const at = Number(text.offset) + Number(btext.value - text.vaddr) + 0x10;
  t.equal(r['hex'], Buffer.from(hostElf.subarray(at, at + 64)).toString('hex'), "btext+0x10: the host ELF's own bytes");
  const pa = BigInt(String(r['pa']));
  t.equal(r['hex'], Buffer.from(m.ram.read(pa as PhysAddr, 64)).toString('hex'), 'and guest RAM at that PA');

  const probe = parseElf(readFileSync(join(dir, 'probe.elf')));
  const i = await json(t, 'dump-inspect', ['dump', 'inspect', 'vmcore.own', '--kernel', 'probe.elf']);
  t.match(i['kernel'], {
    symbolOnly: false,
    symbols: { count: probe.symbolCount, source: 'symtab' },
    kvaMethod: 'minidump',
  });
  const named = probe.symbols.find((s) => s.name !== '' && s.size > 0n) ?? probe.symbols[0];
  if (named === undefined) {
    t.fail('the probe kernel has no symbols');
    return;
  }
  const pr = await run([
    '--json',
    'dump',
    'read',
    'vmcore.own',
    '--kernel',
    'probe.elf',
    '--sym',
    named.name,
    '--len',
    '8',
  ]);
  const resolved = JSON.parse(pr.out) as { symbol?: { value: string }; error?: { code: string } };
  t.equal(resolved.symbol?.value ?? resolved.error?.code, `0x${named.value.toString(16)}`, `${named.name} resolved`);

  // a dump-device image: the panic string from its header, the message buffer's tail
  const h = encodeKernelDumpHeader({
    magic: 'kernel',
    arch: 'amd64',
    dumplength: plan.size,
    dumptime: 1_735_689_600n,
    blocksize: 512,
    hostname: 'kboot-amd64-efi',
    versionstring: modelVersionString('amd64'),
    panicstring: 'kboot: panic at running',
    compression: 'NONE',
  });
  writeDumpFile(join(dir, 'device.own'), [h, ...plan.chunks(), h]);
  const info = await json(t, 'dump-info', ['dump', 'info', 'device.own', '--kernel', 'host.elf']);
  const lines = model.msgbuf.text.split('\n').filter((l) => l !== '');
  t.match(info, {
    panicString: 'kboot: panic at running',
    kernelVersion: modelVersionString('amd64').trim(),
    sources: { panicString: 'kerneldumpheader', msgbuf: 'msgbuf section' },
    msgbuf: { lineCount: lines.length, lines: lines.slice(-40) },
  });
});

t.test('kboot panic: dump info from info.0; an ELF full dump cut by truncate -s', NATIVE, async (t) => {
  // a 512 MiB amd64 machine keeps the full dump small
  const bios = JSON.parse(readFileSync(join('profiles', 'amd64-bios.json'), 'utf8')) as Json & {
    reserved: { base: string }[];
  };
  const { $schema: _schema, ...rest } = bios;
  const small = {
    ...rest,
    name: 'amd64-small',
    ram: [
      { base: '0x0', size: '0x9f000' },
      { base: '0x100000', size: '0x1ff00000' },
    ],
    reserved: bios.reserved.filter((r) => BigInt(r.base) < 0x10_0000n),
  };
  writeFileSync(join(dir, 'small.json'), JSON.stringify(small));
  writeFileSync(join(dir, 'rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
  mkdirSync(join(dir, 'crash'));
  const state = ['--state', 'state-small'];
  const boot = await run(['boot', '--machine', 'small.json', '--strategy', 'kld', '--rescue', 'rescue.elf', ...state]);
  t.equal(boot.code, Exit.Ok, boot.err);
  const mini = await run(['panic', '--dump-dir', 'crash', '--no-progress', ...state]);
  t.equal(mini.code, Exit.Ok, mini.err);
  const info = await json(t, 'dump-info', ['dump', 'info', join('crash', 'vmcore.0')]);
  t.match(info, {
    panicString: 'kboot: panic at running',
    hostname: 'kboot-amd64-small',
    sources: { panicString: 'info file', msgbuf: 'msgbuf section' },
  });
  t.equal((info['msgbuf'] as { lines: string[] }).lines.at(-1), 'Starting init.', "the host model's last message");

  const full = await run(['boot', '--machine', 'small.json', '--strategy', 'kld', '--rescue', 'rescue.elf', ...state]);
  t.equal(full.code, Exit.Ok, full.err);
  const elf = await run(['panic', '--dump-dir', 'crash', '--format', 'elf', '--no-progress', ...state]);
  t.equal(elf.code, Exit.Ok, elf.err);
  mkdirSync(join(dir, 'cut'));
  copyFileSync(join(dir, 'crash', 'vmcore.1'), join(dir, 'cut', 'vmcore'));
  const cut = join(dir, 'cut', 'vmcore');
  const tr = spawnSync('truncate', ['-s', '200M', cut]);
  t.equal(tr.status, 0, 'truncate -s 200M');
  const i = await json(t, 'dump-inspect', ['dump', 'inspect', join('cut', 'vmcore')]);
  t.match(i, { format: 'elf', truncation: { size: '0xc800000', missingRanges: [{ offset: '0xc800000' }] } });
  const present = ['0x1000', '0x200000', '0x7f0ff8'];
  for (const pa of present) {
    const a = await json(t, 'dump-read', ['dump', 'read', join('cut', 'vmcore'), '--pa', pa, '--len', '16']);
    const b = await json(t, 'dump-read', ['dump', 'read', join('crash', 'vmcore.1'), '--pa', pa, '--len', '16']);
    t.equal(a['hex'], b['hex'], `PA ${pa}: as in the whole dump`);
  }
  const dmap = await json(t, 'dump-read', [
    'dump',
    'read',
    join('cut', 'vmcore'),
    '--kva',
    '0xfffff80000200000',
    '--len',
    '8',
  ]);
  t.equal(dmap['pa'], '0x200000', 'a direct-map address without symbols');
  t.match(await failure(['dump', 'read', join('cut', 'vmcore'), '--pa', '0x10000000', '--len', '16']), {
    code: Exit.Failure,
    error: { code: 'DUMP_PAGE_MISSING', details: { pa: '0x10000000' } },
  });
});
