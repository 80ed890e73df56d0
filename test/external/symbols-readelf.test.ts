// loader/elf/symbols.ts against GNU readelf (`readelf -sW`), an independent decoder: every
// symbol of the table kboot reads (.symtab, else .dynsym) — name, value, size, type,
// binding, section index — must be the line readelf prints for it, in order, on
//  - lldb's symbol-only FreeBSD kernel (test/fixtures/freebsd-dumps/kernel-amd64.yaml built
//    by yaml2obj: no program headers, the case `kboot inspect` used to refuse),
//  - symbol-only kernels written by kboot (amd64 and arm64),
//  - 12 ELF64 files of this machine (/usr/bin and /usr/lib/x86_64-linux-gnu, picked evenly
//    from the sorted listing: programs and libraries, .dynsym with versioned names).
// Each part skips only when its tool is missing (and never under CI=true).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readElfSymbols } from '../../loader/elf/symbols.js';
import { SHN } from '../../loader/elf/layout.js';
import { symbolFile } from '../helpers/kernel-symbols.js';
import { fixtureSkip, freebsdFixtures } from '../helpers/freebsd-fixtures.js';
import { requireTool } from '../helpers/tools.js';

const READELF = requireTool('readelf');
const dir = mkdtempSync(join(tmpdir(), 'kboot-symbols-readelf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const TYPES: Readonly<Record<string, number>> = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
  IFUNC: 10,
};
const BINDS: Readonly<Record<string, number>> = { LOCAL: 0, GLOBAL: 1, WEAK: 2, UNIQUE: 10 };
const NDX: Readonly<Record<string, number>> = { UND: SHN.UNDEF, ABS: SHN.ABS, COM: SHN.COMMON };

/** readelf's lines of the table named `table`, as [name, value, size, type, bind, ndx]. */
function readelfTable(file: string, table: string): (string | bigint | number)[][] {
  const out = spawnSync('readelf', ['-sW', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  const at = out.indexOf(`Symbol table '${table}'`);
  if (at < 0) return [];
  const rows: (string | bigint | number)[][] = [];
  for (const line of out.slice(at).split('\n').slice(2)) {
    const m = /^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+) (\S+)\s+(\S+)\s+\S+\s+(\S+) ?(.*)$/.exec(line);
    if (m === null) break;
    const [, value, size, type, bind, ndx, name] = m as unknown as string[];
    rows.push([
      (name ?? '').replace(/@.*$/, ''), // versioned .dynsym names: readelf appends @VERSION (n)
      BigInt(`0x${value ?? '0'}`),
      BigInt(size ?? '0'),
      TYPES[type ?? ''] ?? Number(type),
      BINDS[bind ?? ''] ?? Number(bind),
      NDX[ndx ?? ''] ?? Number(ndx),
    ]);
  }
  return rows.slice(1); // the null symbol
}

function agree(t: Test, file: string): void {
  const f = readElfSymbols(readFileSync(file));
  const table = f.source === 'symtab' ? '.symtab' : '.dynsym';
  const ours = f.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind, s.shndx]);
  t.same(ours, readelfTable(file, table), `${file}: ${f.symbols.length} symbols of ${table} as readelf prints them`);
}

t.test("lldb's symbol-only FreeBSD kernel", { ...READELF, ...fixtureSkip() }, (t) => {
  const fx = freebsdFixtures();
  if (fx === undefined) {
    t.fail('bzip2 and yaml2obj are needed');
    t.end();
    return;
  }
  const f = readElfSymbols(readFileSync(fx.kernel));
  t.equal(f.loadCount, 0, 'no program headers');
  t.equal(f.symbols.length, 18);
  agree(t, fx.kernel);
  t.end();
});

t.test('symbol-only kernels written by kboot', READELF, (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    const p = join(dir, `${arch}.elf`);
    writeFileSync(
      p,
      symbolFile(arch, [
        { name: 'kernbase', value: 0xffff_ffff_8000_0000n },
        { name: 'hz', value: 0xffff_ffff_81cd_4c0cn, size: 4n },
        { name: 'local_thing', value: 0xffff_ffff_81cd_5000n, size: 16n, bind: 0 },
      ]),
    );
    agree(t, p);
  }
  t.end();
});

t.test('ELF64 files of this machine', READELF, (t) => {
  const files: string[] = [];
  for (const d of ['/usr/bin', '/usr/lib/x86_64-linux-gnu']) {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      continue;
    }
    const elf = names
      .map((n) => join(d, n))
      .filter((p) => {
        try {
          const st = statSync(p);
          if (!st.isFile() || st.size < 64 || st.size > 64 << 20) return false;
          const h = readFileSync(p).subarray(0, 20);
          return h[0] === 0x7f && h[1] === 0x45 && h[4] === 2 && h[5] === 1 && (h[16] === 2 || h[16] === 3);
        } catch {
          return false;
        }
      });
    for (let i = 0; i < 6 && elf.length > 0; i++) files.push(elf[Math.floor((i * elf.length) / 6)] ?? '');
  }
  t.ok(files.length >= 6, `${files.length} files`);
  for (const f of files) agree(t, f);
  t.end();
});
