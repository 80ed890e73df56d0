// `kboot dump inspect` and `kboot dump read`, in-process through runCli: for the amd64-efi and
// arm64-fdt host models (machine/host/model.ts in guest RAM), a rescue minidump written to a
// temp file; 200 random kernel VAs per arch (DMAP addresses of dumped pages: dmapbase + pa on
// amd64, dmapbase + (pa - dmapphys) on arm64; and KERNBASE kernel-text addresses) must read
// exactly the bytes in guest RAM at their PAs. A dump-device image (the minidump between
// leading and trailing kerneldumpheaders) and an ELF full dump are read too; the --json output
// of both commands is checked against schemas/dump-{inspect,read}.schema.json on each kind.
// Errors: a mismatched trailer, bad parity, --kva of an ELF dump, usage errors (exit 2).
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archInfo } from '../../../loader/arch/index.js';
import type { PhysAddr } from '../../../loader/addr.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { validateJson } from '../../../loader/schema.js';
import { Machine } from '../../../machine/machine.js';
import { nativeAvailable } from '../../../native/binding.js';
import {
  modelVersionString,
  buildHostModel,
  dumpParams,
  installHost,
  type HostModel,
} from '../../../machine/host/model.js';
import { planMinidump } from '../../../dump/minidump.js';
import { planElfDump } from '../../../dump/elfdump.js';
import { openMinidump } from '../../../dump/reader.js';
import { openDumpFile, writeDumpFile } from '../../../dump/file.js';
import { encodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { guestMemoryReader } from '../../../dump/source.js';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import type { DumpInspectReport } from '../../../dump/report/inspect.js';
import type { DumpReadReport } from '../../../dump/report/read.js';
import { infoText, IN_PROGRESS } from '../../../dump/info.js';
import { smallMinidump } from '../../helpers/dump-fixtures.js';

const skip = nativeAvailable() ? {} : { skip: 'the native addon is not built' };

const dir = mkdtempSync(join(tmpdir(), 'kboot-cli-dump-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

async function json<T>(args: string[]): Promise<T> {
  const r = await run(['--json', ...args]);
  if (r.code !== Exit.Ok) throw new Error(`kboot ${args.join(' ')}: exit ${r.code}: ${r.err}${r.out}`);
  return JSON.parse(r.out) as T;
}

async function errorCode(args: string[]): Promise<{ code: number; error: string }> {
  const r = await run(['--json', ...args]);
  return { code: r.code, error: (JSON.parse(r.out) as { error: { code: string } }).error.code };
}

const hx = (v: bigint): string => `0x${v.toString(16)}`;

function kdh(model: HostModel, dumplength: bigint, hostname = 'crashed.example.org'): Uint8Array {
  return encodeKernelDumpHeader({
    magic: 'kernel',
    arch: model.arch,
    dumplength,
    dumptime: 1_735_689_600n, // 2025-01-01 00:00:00 UTC
    blocksize: 512,
    hostname,
    versionstring: modelVersionString(model.arch),
    panicstring: 'rescue test panic',
    compression: 'NONE',
  });
}

/** A small LCG, so a failure names a reproducible VA. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s % n;
  };
}

for (const name of ['amd64-efi', 'arm64-fdt']) {
  t.test(`kboot dump on ${name}`, skip, async (t) => {
    const profile = loadProfile(name);
    const model = buildHostModel(profile, { seed: 11, allocatedPages: 256 });
    const m = Machine.create(profile);
    t.teardown(() => m.close());
    installHost(m, model);
    const plan = planMinidump({ arch: model.arch, params: dumpParams(model), readPhys: guestMemoryReader(m.ram) });
    const vmcore = join(dir, `vmcore.${model.arch}`);
    writeDumpFile(vmcore, plan.chunks());
    const f = openDumpFile(vmcore);
    t.teardown(() => f.close());
    const reader = openMinidump(f);
    const dumped = [...reader.dumpedPages()];
    const ram = (pa: bigint, len: number): string => Buffer.from(m.ram.read(pa as PhysAddr, len)).toString('hex');

    await t.test('vmcore.N.zst and .gz read the same as the raw dump (decompressed privately)', async (t) => {
      const raw = readFileSync(vmcore);
      for (const [tool, ext] of [
        ['zstd', 'zst'],
        ['gzip', 'gz'],
      ] as const) {
        const packed = join(dir, `vmcore.${model.arch}.${ext}`);
        writeFileSync(packed, execFileSync(tool, ['-c', '-1', vmcore], { maxBuffer: 1 << 30 })); // the system tool compresses
        const pa = dumped[Math.floor(dumped.length / 2)] ?? 0n;
        const a = await json<DumpReadReport>(['dump', 'read', packed, '--pa', hx(pa), '--len', '64']);
        t.equal(a.hex, ram(pa, 64), `${ext}: bytes at a dumped PA`);
        const i = await json<{ format: string }>(['dump', 'inspect', packed]);
        t.equal(i.format, 'minidump');
      }
      t.ok(raw.length > 0);
      t.same(
        readdirSync(tmpdir()).filter((n) => n.startsWith('kboot-decompress-')),
        [],
        'the private decompressed copies are gone',
      );
    });

    await t.test('200 random kernel VAs read the bytes in guest RAM', async (t) => {
      const info = archInfo(model.arch);
      const dmapPhys = model.tables.dmap.basePa as bigint; // dmapphys (0 on amd64)
      const text = model.kernel.symbols['btext'];
      if (text === undefined) throw new Error('no btext');
      const next = prng(name.length * 7919);
      const bad: string[] = [];
      for (let i = 0; i < 200; i++) {
        let va: bigint;
        let pa: bigint;
        if (i % 5 === 4) {
          // KERNBASE-mapped kernel text
          const off = BigInt(next(Number(text.size) - 64));
          va = (text.va as bigint) + off;
          pa = (text.pa as bigint) + off;
        } else {
          pa = (dumped[next(dumped.length)] ?? 0n) + BigInt(next(4096 - 64));
          va = (info.dmapMin as bigint) + (pa - dmapPhys);
        }
        const len = 1 + next(64);
        const addr = i % 10 === 3 ? va.toString(10) : hx(va); // decimal works too
        const r = await json<DumpReadReport>(['dump', 'read', vmcore, '--kva', addr, '--len', String(len)]);
        if (r.pa !== hx(pa) || r.hex !== ram(pa, len) || r.pages[0]?.va !== hx(va)) bad.push(`${hx(va)}+${len}`);
        if (i < 8) t.same(validateJson('dump-read', r), [], `read #${i} is schema-valid`);
      }
      t.same(bad, [], '200 VAs: translated PA and bytes equal guest RAM');
      // across a page boundary of the kernel text: two pages, two translations
      const va = (text.va as bigint) + 0x1000n - 8n;
      const r = await json<DumpReadReport>(['dump', 'read', vmcore, '--kva', hx(va), '--len', '24']);
      t.same(
        r.pages.map((p) => [p.va, p.pa, p.len]),
        [
          [hx(va), hx((text.pa as bigint) + 0x1000n - 8n), 8],
          [hx(va + 8n), hx((text.pa as bigint) + 0x1000n), 16],
        ],
      );
      t.equal(r.hex, ram((text.pa as bigint) + 0x1000n - 8n, 24));
      t.equal(r.pages[1]?.offset, hx(BigInt(reader.paToOffset((text.pa as bigint) + 0x1000n))), 'file offsets');
    });

    await t.test('--pa reads and the hexdump text', async (t) => {
      const pa = (dumped[3] ?? 0n) + 0x7n;
      const r = await json<DumpReadReport>(['dump', 'read', vmcore, '--pa', hx(pa), '--len', '40']);
      t.equal(r.kind, 'pa');
      t.equal(r.hex, ram(pa, 40));
      t.same(validateJson('dump-read', r), []);
      const out = await run(['dump', 'read', vmcore, '--pa', hx(pa), '--len', '20']);
      t.equal(out.code, Exit.Ok);
      const b = m.ram.read(pa as PhysAddr, 20);
      const cells = [...b].map((x) => x.toString(16).padStart(2, '0'));
      const asc = (xs: Uint8Array): string =>
        [...xs].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
      const want =
        `${pa.toString(16).padStart(16, '0')}  ${cells.slice(0, 8).join(' ')}  ${cells.slice(8, 16).join(' ')}  |${asc(b.subarray(0, 16))}|\n` +
        `${(pa + 16n).toString(16).padStart(16, '0')}  ${cells.slice(16).join(' ')}${' '.repeat(3 * 4)}  ${' '.repeat(3 * 8 - 1)}  |${asc(b.subarray(16))}|\n`;
      t.equal(out.out, want, 'hexdump -C lines, the address column from the address read');
      const kv = await run([
        'dump',
        'read',
        vmcore,
        '--kva',
        hx((model.kernel.symbols['btext']?.va as bigint) + 0x10n),
        '--len',
        '4',
      ]);
      t.match(kv.out, /^# kva 0x[0-9a-f]{16} -> pa 0x[0-9a-f]{16}\n[0-9a-f]{16} {2}/);
    });

    await t.test('inspect', async (t) => {
      const r = await json<DumpInspectReport>(['dump', 'inspect', vmcore]);
      t.same(validateJson('dump-inspect', r), [], 'schema-valid');
      t.equal(r.format, 'minidump');
      t.equal(r.arch, model.arch);
      t.equal(r.container, 'raw');
      t.equal(r.minidump?.version, 3);
      t.equal(r.minidump?.kernbase, hx(plan.header.kernbase));
      t.equal(r.minidump?.dmapphys, model.arch === 'arm64' ? hx(plan.header.dmapphys) : undefined);
      t.same(
        r.minidump?.sections.map((s) => [s.name, s.offset, s.size]),
        plan.segments.map((s) => [
          {
            MDHDR: 'header',
            MSGBUF: 'msgbuf',
            DUMP_AVAIL: 'dump_avail',
            BITMAP: 'bitmap',
            PTPS: 'pmap',
            PAGES: 'pages',
          }[s.name],
          hx(s.offset),
          hx(s.size),
        ]),
        'sections where the writer put them',
      );
      t.same(r.dumpAvail, {
        source: 'section',
        ranges: model.dumpAvail.pairs.map(([s, e]) => ({ start: hx(s), end: hx(e) })),
      });
      t.equal(r.dumpedPages, plan.pages);
      t.equal(r.kerneldumpheader, null);
      t.equal(r.msgbuf?.struct?.msgSize, model.msgbuf.size);
      const msgLines = model.msgbuf.text.split('\n').filter((l) => l !== '');
      t.equal(r.msgbuf?.lineCount, msgLines.length);
      t.same(r.msgbuf?.lines, msgLines.slice(0, 10), 'the first 10 lines of the message buffer');
      const three = await json<DumpInspectReport>(['dump', 'inspect', vmcore, '--msgbuf-lines', '3']);
      t.same(three.msgbuf?.lines, msgLines.slice(0, 3));
      const text = await run(['dump', 'inspect', vmcore]);
      t.equal(text.code, Exit.Ok);
      t.match(text.out, new RegExp(`format\\s+minidump \\(${model.arch}\\), raw file, 0x1000-byte pages`));
      t.match(text.out, /version\s+3\n/);
      t.match(text.out, /dumped pages \d+ \(0x[0-9a-f]+ bytes/);
      t.match(text.out, /msgbuf \(0x[0-9a-f]+ bytes at 0x1000; struct msgbuf at .*\):\n {4}---<<BOOT>>---\n/);
    });

    await t.test('a dump-device image', async (t) => {
      const img = join(dir, `device.${model.arch}`);
      const h = kdh(model, plan.size);
      writeDumpFile(img, [h, ...plan.chunks(), h]);
      const r = await json<DumpInspectReport>(['dump', 'inspect', img]);
      t.same(validateJson('dump-inspect', r), [], 'schema-valid');
      t.equal(r.container, 'device');
      t.same(r.device, {
        sectorSize: 512,
        leadingOffset: '0x0',
        trailingOffset: hx(plan.size + 512n),
        dumpOffset: '0x200',
        dumpLength: hx(plan.size),
      });
      t.match(r.kerneldumpheader, {
        magic: 'FreeBSD Kernel Dump',
        architecture: model.arch === 'arm64' ? 'aarch64' : 'amd64',
        dumpLength: hx(plan.size),
        blocksize: 512,
        compression: 'none',
        dumptime: 1_735_689_600,
        dumptimeText: '2025-01-01 00:00:00 +0000',
        hostname: 'crashed.example.org',
        panicString: 'rescue test panic',
      });
      t.equal(r.minidump?.sections[0]?.offset, '0x200', 'sections offset by the leading header');
      const text = await run(['dump', 'inspect', img]);
      for (const label of [
        `Architecture: ${model.arch === 'arm64' ? 'aarch64' : 'amd64'}`,
        'Architecture Version: ',
        `Dump Length: ${plan.size}`,
        'Blocksize: 512',
        'Dumptime: 2025-01-01 00:00:00 +0000',
        'Hostname: crashed.example.org',
        'Magic: FreeBSD Kernel Dump',
        `Version String: FreeBSD 15.0-KBOOT-MODEL #0: kboot host model (${model.arch})\n`,
        'Panic String: rescue test panic',
        'Dump Parity: ',
      ])
        t.ok(text.out.includes(`    ${label}`), `savecore's "${label.trim()}"`);
      const pa = (dumped[dumped.length - 1] ?? 0n) + 0x30n;
      const va = (archInfo(model.arch).dmapMin as bigint) + pa - (model.tables.dmap.basePa as bigint);
      const rd = await json<DumpReadReport>(['dump', 'read', img, '--kva', hx(va), '--len', '48']);
      t.same(validateJson('dump-read', rd), []);
      t.equal(rd.container, 'device');
      t.equal(rd.hex, ram(pa, 48));
      t.equal(rd.pages[0]?.offset, hx(512n + BigInt(reader.paToOffset(pa))), 'file offset past the leading header');

      // a trailer that differs, a header with bad parity (small images: the headers fail first)
      const filler = new Uint8Array(0x2000);
      const mismatch = join(dir, `mismatch.${model.arch}`);
      writeFileSync(mismatch, Buffer.concat([kdh(model, 0x2000n), filler, kdh(model, 0x2000n, 'elsewhere')]));
      t.same(await errorCode(['dump', 'inspect', mismatch]), { code: Exit.Failure, error: 'DUMP_HEADERS_DISAGREE' });
      const broken = Uint8Array.from(kdh(model, 0x2000n));
      broken[330] = (broken[330] ?? 0) ^ 1; // a panic-string byte
      const parity = join(dir, `parity.${model.arch}`);
      writeFileSync(parity, Buffer.concat([kdh(model, 0x2000n), filler, broken]));
      t.same(await errorCode(['dump', 'read', parity, '--pa', '0', '--len', '1']), {
        code: Exit.Failure,
        error: 'DUMP_BAD_PARITY',
      });
    });
  });
}

t.test('an ELF full dump', skip, async (t) => {
  const profile = loadProfile('amd64-efi');
  const model = buildHostModel(profile, { seed: 3, allocatedPages: 16 });
  const m = Machine.create(profile);
  t.teardown(() => m.close());
  installHost(m, model);
  // two pieces of RAM (a full dump of 8 GiB is not a unit test)
  const ranges = [
    [0x10_0000n, 0x30_0000n],
    [0x1_0000_0000n, 0x1_0010_0000n],
  ] as const;
  const elf = join(dir, 'vmcore.elf');
  writeDumpFile(elf, planElfDump({ arch: 'amd64', ranges, readPhys: guestMemoryReader(m.ram) }).chunks());
  const r = await json<DumpInspectReport>(['dump', 'inspect', elf]);
  t.same(validateJson('dump-inspect', r), [], 'inspect is schema-valid');
  t.equal(r.format, 'elf');
  t.same(r.elf?.loadSegments, [
    { pa: '0x100000', size: '0x200000', offset: '0x1000' },
    { pa: '0x100000000', size: '0x100000', offset: '0x201000' },
  ]);
  t.equal(r.elf?.phnum, 2);
  t.equal(r.dumpedPages, 0x300);
  t.equal(r.msgbuf, null);
  t.same(r.dumpAvail.source, 'pt_load');
  const text = await run(['dump', 'inspect', elf]);
  t.match(text.out, /format\s+ELF full dump \(amd64\), raw file/);
  t.match(text.out, /PT_LOAD segments \(2\):/);
  for (const pa of [0x10_0000n, 0x2f_fff0n, 0x1_0000_1234n]) {
    const rd = await json<DumpReadReport>(['dump', 'read', elf, '--pa', hx(pa), '--len', '16']);
    t.same(validateJson('dump-read', rd), [], `read at ${hx(pa)} is schema-valid`);
    t.equal(rd.hex, Buffer.from(m.ram.read(pa as PhysAddr, 16)).toString('hex'));
  }
  // the direct map translates without the kernel's symbols; any other KVA needs them
  const dmap = await json<DumpReadReport>(['dump', 'read', elf, '--kva', '0xfffff80000100010', '--len', '16']);
  t.equal(dmap.pa, '0x100010', 'DMAP_MIN_ADDRESS + pa');
  t.equal(dmap.hex, Buffer.from(m.ram.read(0x10_0010n as PhysAddr, 16)).toString('hex'));
  t.same(await errorCode(['dump', 'read', elf, '--kva', '0xffffffff80200000', '--len', '16']), {
    code: Exit.Failure,
    error: 'DUMP_NO_KVA',
  });
  t.same(await errorCode(['dump', 'read', elf, '--pa', '0x300000', '--len', '1']), {
    code: Exit.Failure,
    error: 'DUMP_NOT_DUMPED',
  });
});

t.test('dump inspect first recovers what a killed panic --dump-dir left beside the dump', skip, async (t) => {
  const crash = mkdtempSync(join(dir, 'crash-'));
  const { bytes } = smallMinidump();
  const facts = { arch: 'amd64', hostname: 'h', versionstring: 'FreeBSD\n', panicstring: 'p', dumptime: 1n } as const;
  // what a SIGKILL leaves: info.0 "in progress" (its writer's lock gone) and the dump under its temporary name
  writeFileSync(
    join(crash, 'info.0'),
    infoText({
      device: '/dev/dumper',
      facts,
      dumplength: BigInt(bytes.length),
      compression: 'none',
      parity: 0,
      bounds: 0,
      status: 'bad',
      reason: IN_PROGRESS,
    }),
  );
  writeFileSync(join(crash, `.vmcore.0.${'ab'.repeat(16)}.tmp`), bytes);
  const r = await run(['--json', 'dump', 'inspect', join(crash, 'vmcore.0')]);
  t.equal(r.code, Exit.Ok, r.err);
  t.match(
    r.err,
    /^recovered a killed dump: .*info\.0 marked incomplete \(the writer was killed\); .*vmcore\.0 holds \d+ bytes/,
  );
  t.equal((JSON.parse(r.out) as { format: string }).format, 'minidump', 'then the recovered vmcore.0 is inspected');
  t.match(readFileSync(join(crash, 'info.0'), 'utf8'), /Incomplete: the writer was killed/);
});

t.test('usage errors exit 2; unreadable input exits 1', async (t) => {
  const small = join(dir, 'junk.bin');
  writeFileSync(small, new Uint8Array(0x1000).fill(0x41));
  for (const [args, why] of [
    [['dump', 'read', small, '--len', '16'], /needs one of --kva ADDR, --pa ADDR or --sym/],
    [['dump', 'read', small, '--kva', '0x1000', '--pa', '0x1000', '--len', '16'], /needs one of/],
    [['dump', 'read', small, '--pa', '0x1000'], /--len/],
    [['dump', 'read', small, '--pa', '0x1000', '--len', '0'], /length must be 1\.\.1048576/],
    [['dump', 'read', small, '--pa', '0x1000', '--len', '0x100001'], /length must be 1\.\.1048576 \(0x100000\)/],
    [['dump', 'read', small, '--pa', 'zz', '--len', '1'], /hex \(0x\.\.\.\) or decimal/],
    [['dump', 'read', small, '--pa', '0x10000000000000000', '--len', '1'], /64 bits/],
    [['dump', 'read', small, '--pa', '0xfffffffffffffff0', '--len', '32'], /passes the end of the 64-bit/],
    [['dump', 'inspect', small, '--msgbuf-lines', 'x'], /hex \(0x\.\.\.\) or decimal/],
    [['dump', 'inspect'], /missing required argument/],
  ] as const) {
    const r = await run([...args]);
    t.equal(r.code, Exit.Usage, args.join(' '));
    t.match(r.err, why);
  }
  t.same(await errorCode(['dump', 'inspect', small]), { code: Exit.Failure, error: 'DUMP_BAD_MAGIC' });
  const gz = join(dir, 'vmcore.0.gz');
  writeFileSync(gz, Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3));
  const c = await run(['dump', 'inspect', gz]);
  t.equal(c.code, Exit.Failure);
  t.match(c.err, /^kboot: dump: .*\n$/, 'a broken gzip file is a dump error');
  t.same(await errorCode(['dump', 'inspect', join(dir, 'nope')]), { code: Exit.Failure, error: 'IO_NOT_FOUND' });
  t.same(await errorCode(['dump', 'inspect', dir]), { code: Exit.Failure, error: 'IO_NOT_REGULAR' });
  t.same(validateJson('dump-read', { extra: 1 }).length > 0, true);
});

t.test('the schemas hold the read report together', (t) => {
  const base: DumpReadReport = {
    file: 'vmcore.0',
    compression: 'none',
    format: 'minidump',
    arch: 'amd64',
    container: 'raw',
    kind: 'kva',
    address: '0xfffff80000001000',
    len: 2,
    pa: '0x1000',
    pages: [{ va: '0xfffff80000001000', pa: '0x1000', offset: '0x5000', len: 2 }],
    hex: 'abcd',
    as: 'hex',
  };
  t.same(validateJson('dump-read', base), []);
  t.ok(
    validateJson('dump-read', { ...base, pages: [{ pa: '0x1000', offset: '0x5000', len: 2 }] }).length > 0,
    'kva pages need va',
  );
  t.ok(validateJson('dump-read', { ...base, kind: 'pa' }).length > 0, 'pa pages have no va');
  t.ok(validateJson('dump-read', { ...base, hex: 'abc' }).length > 0, 'whole bytes');
  t.ok(validateJson('dump-read', { ...base, len: 0x100001 }).length > 0, 'at most 1 MiB');
  t.end();
});
