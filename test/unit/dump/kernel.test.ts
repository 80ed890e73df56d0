// dump/kernel.ts: symbol references NAME[+OFFSET], their resolution in a kernel's symbol
// table (DUMP_NO_SYMBOL with the facts), and the check of a kernel against a dump where both
// say something: the architecture, and a minidump's kernel map start (its header's kernbase,
// VM_MIN_KERNEL_ADDRESS) against the kernel's kernbase and allocated sections
// (DUMP_KERNEL_MISMATCH). Kernels are symbol-only files made by kboot's ELF writer.
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKernel, loadKernelSymbols, parseSymbolRef, resolveSymbol } from '../../../dump/kernel.js';
import { DumpCode } from '../../../dump/errors.js';
import { IoCode } from '../../../loader/errors.js';
import { ElfCode } from '../../../loader/elf/errors.js';
import { kernelOf, symbolFile } from '../../helpers/kernel-symbols.js';
import { throwsCode } from '../../helpers/errors.js';

const KB = 0xffff_ffff_8000_0000n;
const VM_MIN = 0xffff_fe00_0000_0000n;
const amd64 = kernelOf(
  symbolFile('amd64', [
    { name: 'kernbase', value: KB },
    { name: 'hz', value: KB + 0x1cd_4c0cn, size: 4n },
    { name: 'version', value: KB + 0x100_0000n, size: 0x100n },
  ]),
);

t.test('NAME[+OFFSET]', (t) => {
  t.same(parseSymbolRef('hz'), { name: 'hz', offset: 0n });
  t.same(parseSymbolRef(' hz+4 '), { name: 'hz', offset: 4n });
  t.same(parseSymbolRef('dumppcb+0x10'), { name: 'dumppcb', offset: 16n });
  t.same(parseSymbolRef('_foo.bar$1+0X1f'), { name: '_foo.bar$1', offset: 31n });
  for (const bad of ['', '+4', 'hz+', 'hz+x', 'hz+0x', 'a b', 'hz+0x10000000000000000']) {
    t.equal(parseSymbolRef(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});

t.test('resolution', (t) => {
  const r = resolveSymbol(amd64, { name: 'hz', offset: 2n });
  t.equal(r.va, KB + 0x1cd_4c0en);
  t.equal(r.symbol.size, 4n);
  const e = throwsCode(t, () => resolveSymbol(amd64, { name: 'ticks', offset: 0n }), DumpCode.NoSymbol);
  t.same(e?.details, { name: 'ticks', kernel: 'kernel.elf', symbols: 3 });
  throwsCode(t, () => resolveSymbol(amd64, { name: 'hz', offset: 0xffff_ffff_ffff_ffffn }), DumpCode.BadValue);
  t.end();
});

t.test('the kernel against the dump', (t) => {
  t.same(checkKernel(amd64, { arch: 'amd64', kernelMapStart: VM_MIN }), {
    arch: 'amd64',
    kernbase: KB,
    dumpKernbase: VM_MIN,
  });
  t.same(checkKernel(amd64, { arch: 'amd64' }), { arch: 'amd64', kernbase: KB }, 'an ELF dump says no KERNBASE');
  const e1 = throwsCode(t, () => checkKernel(amd64, { arch: 'arm64' }), DumpCode.KernelMismatch, 'arch');
  t.same(e1?.details, { kernel: 'amd64', dump: 'arm64' });
  const e2 = throwsCode(
    t,
    () => checkKernel(amd64, { arch: 'amd64', kernelMapStart: 0xffff_ffff_c000_0000n }),
    DumpCode.KernelMismatch,
    'kernbase below the dumped kernel map',
  );
  t.same(e2?.details, { kernbase: KB, dumpKernbase: 0xffff_ffff_c000_0000n });
  // no kernbase symbol: the allocated sections are checked
  const noBase = kernelOf(symbolFile('arm64', [{ name: 'hz', value: 0xffff_0000_0010_0000n, size: 4n }]));
  t.same(checkKernel(noBase, { arch: 'arm64', kernelMapStart: 0xffff_0000_0000_0000n }), {
    arch: 'arm64',
    dumpKernbase: 0xffff_0000_0000_0000n,
  });
  const e3 = throwsCode(
    t,
    () => checkKernel(noBase, { arch: 'arm64', kernelMapStart: 0xffff_0000_1000_0000n }),
    DumpCode.KernelMismatch,
    'a section below the dumped kernel map',
  );
  t.equal((e3?.details as { section?: unknown }).section, '.bss', 'the first such section');
  t.end();
});

t.test('loadKernelSymbols: a file through the bounded opener', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-kernel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'k.elf'), symbolFile('amd64', [{ name: 'hz', value: KB + 4n, size: 4n }]));
  const k = loadKernelSymbols('k.elf', { cwd: dir });
  t.equal(k.path, 'k.elf');
  t.equal(k.symbols.lookup('hz')?.value, KB + 4n);
  throwsCode(t, () => loadKernelSymbols('none.elf', { cwd: dir }), IoCode.NotFound);
  throwsCode(t, () => loadKernelSymbols(dir), IoCode.NotRegular, 'a directory');
  writeFileSync(join(dir, 'junk'), 'not an elf file at all, really');
  throwsCode(t, () => loadKernelSymbols('junk', { cwd: dir }), ElfCode.BadMagic);
  t.end();
});
