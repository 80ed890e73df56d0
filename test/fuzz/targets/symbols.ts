/**
 * The kernel symbol-table reader (loader/elf/symbols.ts readElfSymbols) as `kboot dump ...
 * --kernel` and `kboot inspect` of a symbol-only file run it: read the table, look names up,
 * build and print the symbol-only inspect report. Seeds: kboot's ELF files of the elf target
 * (kernels with and without program headers, a shared object) and symbol-only kernels with
 * the symbols dumps are read through (kernbase, KPML4phys, hz, version, panicstr, msgbufp).
 */
import { ElfError } from '../../../loader/elf/errors.js';
import { ET, Elf64Ehdr } from '../../../loader/elf/layout.js';
import { readElfSymbols } from '../../../loader/elf/symbols.js';
import { formatInspect, symbolOnlyReport } from '../../../cli/actions/inspect.js';
import { symbolFile } from '../../helpers/kernel-symbols.js';
import { bytesTarget } from '../lib/build.js';
import { invariant, type FuzzTarget } from '../lib/target.js';
import { elfFields, elfSeeds } from './elf.js';

const KB = 0xffff_ffff_8000_0000n;

/** Symbol-only kernels (no program headers), amd64 and arm64. */
export function symbolOnlySeeds(): Uint8Array[] {
  return [
    symbolFile('amd64', [
      { name: 'kernbase', value: KB },
      { name: 'KPML4phys', value: KB + 0x1d4_7eb8n, size: 8n },
      { name: 'hz', value: KB + 0x1cd_4c0cn, size: 4n },
      { name: 'version', value: KB + 0x115_2d30n, size: 0x120n },
      { name: 'panicstr', value: KB + 0x1ca_6000n, size: 8n, bind: 0 },
    ]),
    symbolFile('arm64', [
      { name: 'msgbufp', value: 0xffff_0000_0120_0000n, size: 8n },
      { name: 'hostname', value: 0xffff_0000_0121_0000n, size: 0x100n },
    ]),
  ];
}

export const symbolsTarget: FuzzTarget = bytesTarget({
  name: 'elf-symbols',
  group: 'elf',
  entry: 'readElfSymbols + lookup + symbolOnlyReport/formatInspect (kboot dump --kernel, kboot inspect)',
  errors: [ElfError],
  floor: 0.15,
  tapRuns: 4000,
  seeds: () => [...symbolOnlySeeds(), ...elfSeeds().filter((b) => b[Elf64Ehdr.offsets.type] !== ET.CORE)],
  decode: (b) => {
    const f = readElfSymbols(b);
    let found = 0;
    for (const name of ['kernbase', 'KPML4phys', 'hz', 'version', 'btext', 'f', '']) {
      const s = f.lookup(name);
      if (s === undefined) continue;
      invariant(s.name === name, `lookup(${name}) gave ${s.name}`);
      found++;
    }
    formatInspect(symbolOnlyReport('fuzz', f));
    return { arch: f.arch, loads: f.loadCount, source: f.source, symbols: f.symbols.length, found };
  },
  fields: elfFields,
  keepHead: Elf64Ehdr.size,
  randomLength: 2048,
});
