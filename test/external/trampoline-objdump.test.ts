// Every trampoline's code, disassembled by GNU binutils — an independent decoder — and asserted
// instruction by instruction, including branch targets and the data-block displacements, which
// must equal the layouts' offsets:
//  - amd64: `objdump -D -b binary -m i386:x86-64 --adjust-vma=<run address>` (binutils);
//  - arm64: `aarch64-linux-gnu-objdump -D -b binary -m aarch64 --adjust-vma=<run address>`.
// Rescue-exec code is built on real plans (planRescue, built-in profiles, makeRescueKernel);
// each arch's part skips only when its objdump is not installed (fails under CI=true).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Amd64KexecBlock,
  Amd64TrampData,
  Arm64KexecBlock,
  Arm64TrampData,
  buildKexecReboot,
  buildRescueExec,
  TrampCopy,
  type Trampoline,
} from '../../loader/trampoline/index.js';
import { hostFor, kexecInput, rescuePlan } from '../unit/loader/trampoline/fixtures.js';
import { requireTool } from '../helpers/tools.js';

const X86 = 'objdump';
const A64 = 'aarch64-linux-gnu-objdump';
const dir = mkdtempSync(join(tmpdir(), 'kboot-tramp-objdump-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Insn {
  readonly addr: bigint;
  /** Mnemonic and operands with objdump's spacing collapsed, e.g. "mov %rdi,%cr3"; RIP displacements as `disp`. */
  readonly text: string;
  /** The target objdump resolves for RIP-relative operands (`# 0x...`), if any. */
  readonly ripTarget: bigint | undefined;
}

/** Disassembles `bytes` as if loaded at `vma`; drops the padding after the last real instruction. */
function disassemble(tool: string, machine: string, bytes: Uint8Array, vma: bigint, name: string): Insn[] {
  const file = join(dir, `${name}.bin`);
  writeFileSync(file, bytes);
  const r = spawnSync(tool, ['-D', '-b', 'binary', '-m', machine, `--adjust-vma=0x${vma.toString(16)}`, file], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr}`);
  const out: Insn[] = [];
  for (const line of r.stdout.split('\n')) {
    const m =
      /^\s*([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(.*)$/.exec(line) ?? /^\s*([0-9a-f]+):\t[0-9a-f]{8} \t(.*)$/.exec(line);
    if (m === null) continue;
    const [, addr = '0', rest = ''] = m;
    const [body = '', comment] = rest.split(/\s#\s/);
    // RIP-relative displacements are checked through the resolved target objdump prints.
    const text = body
      .trim()
      .replace(/\s+/g, ' ')
      .replace(/, /g, ',')
      .replace(/-?0x[0-9a-f]+\(%rip\)/, 'disp(%rip)');
    const target = comment === undefined ? undefined : /0x([0-9a-f]+)/.exec(comment)?.[1];
    out.push({ addr: BigInt(`0x${addr}`), text, ripTarget: target === undefined ? undefined : BigInt(`0x${target}`) });
  }
  return out;
}

const h = (v: bigint | number): string => `0x${v.toString(16)}`;
const label = (tr: Trampoline, name: string): bigint => {
  const v = tr.code.labels[name];
  if (v === undefined) throw new Error(`no label ${name}`);
  return v;
};
const dataPa = (tr: Trampoline): bigint => tr.segments.find((s) => s.role === 'data')?.phys ?? 0n;

/** Asserts the listing, one expected instruction per entry; `rip` = the expected RIP-relative target. */
function expectListing(
  t: Test,
  got: Insn[],
  want: readonly (string | { text: string; rip?: bigint | undefined; at?: bigint | undefined })[],
): void {
  t.equal(got.length >= want.length, true, `${want.length} instructions decoded`);
  want.forEach((w, i) => {
    const g = got[i];
    const spec = typeof w === 'string' ? { text: w } : w;
    t.equal(g?.text, spec.text, `#${i} ${spec.text}`);
    if (spec.rip !== undefined) t.equal(g?.ripTarget, spec.rip, `#${i} RIP-relative target ${h(spec.rip)}`);
    if (spec.at !== undefined) t.equal(g?.addr, spec.at, `#${i} at ${h(spec.at)}`);
  });
}

t.test('amd64', requireTool(X86), async (t) => {
  for (const profile of ['amd64-efi', 'amd64-bios']) {
    t.test(`rescue_tramp on ${profile}`, (t) => {
      const plan = rescuePlan(profile);
      const tr = buildRescueExec('amd64', { plan, host: hostFor(plan, profile).state });
      const code = tr.segments.find((s) => s.role === 'code')?.data ?? new Uint8Array();
      const got = disassemble(X86, 'i386:x86-64', code, tr.code.va, `rescue-${profile}`);
      expectListing(t, got, [
        { text: 'jmp *%rdx', at: tr.entry.pc },
        { text: 'mov %rdi,%cr3', at: label(tr, 'rescue_itramp') },
        'jmp *%rsi',
        'int3',
      ]);
      t.equal(got.length, 4, 'nothing else');
      t.equal(
        tr.entry.regs['rdx'],
        tr.code.phys + (label(tr, 'rescue_itramp') - tr.code.va),
        'RDX = PA of rescue_itramp',
      );
      t.end();
    });
  }

  t.test('kexec trampoline', (t) => {
    const input = kexecInput('amd64');
    const tr = buildKexecReboot('amd64', input);
    const code = tr.segments.find((s) => s.role === 'code')?.data ?? new Uint8Array();
    const got = disassemble(X86, 'i386:x86-64', code, tr.code.va, 'kexec-amd64').filter((i) => i.text !== 'int3');
    const data = dataPa(tr);
    const td = (f: keyof typeof Amd64TrampData.offsets): bigint =>
      data + BigInt(Amd64KexecBlock.offsets.tramp + Amd64TrampData.offsets[f]);
    const d = (n: number): string => (n === 0 ? '' : h(n));
    expectListing(t, got, [
      { text: 'cli', at: tr.entry.pc },
      'cld',
      { text: 'lea disp(%rip),%rbx', rip: data + BigInt(Amd64KexecBlock.offsets.copies) },
      { text: 'mov disp(%rip),%r8', rip: data + BigInt(Amd64KexecBlock.offsets.ncopies) },
      { text: 'test %r8,%r8', at: label(tr, 'next_copy') },
      `je ${h(label(tr, 'copies_done'))}`,
      `mov ${d(TrampCopy.offsets.src)}(%rbx),%rsi`,
      `mov ${h(TrampCopy.offsets.dst)}(%rbx),%rdi`,
      `mov ${h(TrampCopy.offsets.len)}(%rbx),%rcx`,
      'shr $0x3,%rcx',
      { text: 'rep movsq %ds:(%rsi),%es:(%rdi)', at: tr.copyLoops[0]?.at },
      { text: `add $${h(TrampCopy.size)},%rbx`, at: tr.copyLoops[0]?.exit },
      'dec %r8',
      `jmp ${h(label(tr, 'next_copy'))}`,
      { text: 'mov disp(%rip),%rsi', rip: td('memmapSrc'), at: label(tr, 'copies_done') },
      'test %rsi,%rsi',
      `je ${h(label(tr, 'memmap_done'))}`,
      { text: 'mov disp(%rip),%rdi', rip: td('memmapDst') },
      { text: 'mov disp(%rip),%rcx', rip: td('memmapLen') },
      'shr $0x3,%rcx',
      { text: 'rep movsq %ds:(%rsi),%es:(%rdi)', at: tr.copyLoops[1]?.at },
      { text: 'mov disp(%rip),%rax', rip: td('pt4'), at: tr.copyLoops[1]?.exit },
      { text: 'lea disp(%rip),%rsp', rip: td('entry') },
      'mov %rax,%cr3',
      { text: 'ret', at: label(tr, 'to_btext') },
    ]);
    t.end();
  });
});

t.test('arm64', requireTool(A64), async (t) => {
  for (const profile of ['arm64-fdt', 'arm64-acpi']) {
    t.test(`rescue_kernel_exec tail on ${profile}`, (t) => {
      const plan = rescuePlan(profile);
      const tr = buildRescueExec('arm64', { plan, host: hostFor(plan, profile).state });
      const code = tr.segments.find((s) => s.role === 'code')?.data ?? new Uint8Array();
      const got = disassemble(A64, 'aarch64', code, tr.code.va, `rescue-${profile}`);
      expectListing(t, got, [
        { text: 'dsb ishst', at: tr.entry.pc },
        'msr ttbr0_el1,x1',
        'isb',
        'dsb ishst',
        'tlbi vmalle1is',
        'dsb ish',
        'isb',
        'br x2',
      ]);
      t.equal(got.length, 8, 'nothing else');
      t.end();
    });
  }

  t.test('kexec trampoline', (t) => {
    const input = kexecInput('arm64');
    const tr = buildKexecReboot('arm64', input);
    const code = tr.segments.find((s) => s.role === 'code')?.data ?? new Uint8Array();
    const got = disassemble(A64, 'aarch64', code, tr.code.va, 'kexec-arm64').filter((i) => !i.text.startsWith('udf'));
    const data = dataPa(tr);
    const off = (n: number): string => (n === 0 ? '' : `,#${n}`);
    const td = Arm64TrampData.offsets;
    expectListing(t, got, [
      { text: `adr x8,${h(data)}`, at: tr.entry.pc },
      `ldr x6,[x8${off(Arm64KexecBlock.offsets.ncopies)}]`,
      `add x7,x8,#${h(Arm64KexecBlock.offsets.copies)}`,
      { text: `cbz x6,${h(label(tr, 'copies_done'))}`, at: label(tr, 'next_copy') },
      `ldr x1,[x7${off(TrampCopy.offsets.src)}]`,
      `ldr x2,[x7${off(TrampCopy.offsets.dst)}]`,
      `ldr x3,[x7${off(TrampCopy.offsets.len)}]`,
      { text: `cbz x3,${h(tr.copyLoops[0]?.exit ?? 0n)}`, at: tr.copyLoops[0]?.at },
      'ldp x4,x5,[x1],#16',
      'stp x4,x5,[x2],#16',
      'sub x3,x3,#0x10',
      `b ${h(tr.copyLoops[0]?.at ?? 0n)}`,
      { text: `add x7,x7,#${h(TrampCopy.size)}`, at: tr.copyLoops[0]?.exit },
      'sub x6,x6,#0x1',
      `b ${h(label(tr, 'next_copy'))}`,
      { text: `add x8,x8,#${h(Arm64KexecBlock.offsets.tramp)}`, at: label(tr, 'copies_done') },
      `ldr x10,[x8${off(td.memmapSrc)}]`,
      `cbz x10,${h(label(tr, 'memmap_done'))}`,
      `ldr x11,[x8${off(td.memmapDst)}]`,
      `ldr x12,[x8${off(td.memmapLen)}]`,
      { text: `cbz x12,${h(label(tr, 'memmap_done'))}`, at: label(tr, 'memmap_loop') },
      'ldr x13,[x10],#8',
      'str x13,[x11],#8',
      'sub x12,x12,#0x8',
      `b ${h(label(tr, 'memmap_loop'))}`,
      { text: 'ic ialluis', at: label(tr, 'memmap_done') },
      'dsb ish',
      'isb',
      `ldp x9,x0,[x8${off(td.entry)}]`,
      'br x9',
    ]);
    t.end();
  });
});
