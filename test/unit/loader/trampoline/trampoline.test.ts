// Trampolines built on real plans and modelled hosts: data blocks decoded with their layouts,
// page tables walked with the walkers in fixtures.ts (not the builders' code) to show that the
// entry state maps everything the code touches and that stopAt lands on the right PA, and
// every TrampolineError code raised by mutating one field of a good input. Instruction-level
// checks against objdump are in test/external/trampoline-objdump.test.ts.
import t from 'tap';
import fc from 'fast-check';
import type { KernelVa, PhysAddr, PhysRange, Size } from '../../../../loader/addr.js';
import { TrampolineCode, TrampolineError } from '../../../../loader/arch/errors.js';
import {
  Amd64KexecBlock,
  Amd64TrampData,
  Arm64KexecBlock,
  Arm64TrampData,
  buildKexecReboot,
  buildRescueExec,
  TrampCopy,
  trampolineOps,
  type KexecCopy,
  type KexecRebootInput,
  type Trampoline,
} from '../../../../loader/trampoline/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { covered, hostFor, kexecInput, MiB, PAGE, pagesOf, rescuePlan, walkA64, walkX86 } from './fixtures.js';

const AMD64_KERNBASE = 0xffff_ffff_8000_0000n;
const ARM64_KERNBASE = 0xffff_0000_0000_0000n;

const seg = (tr: Trampoline, role: 'code' | 'data' | 'page-tables', n = 0) => {
  const s = tr.segments.filter((x) => x.role === role)[n];
  if (s === undefined) throw new Error(`no ${role} segment ${n}`);
  return s;
};
const lastByte = (r: PhysRange): bigint => r.start + r.size - 1n;

for (const profile of ['amd64-efi', 'amd64-bios']) {
  t.test(`amd64 rescue-exec on ${profile}`, (t) => {
    const plan = rescuePlan(profile);
    const host = hostFor(plan, profile);
    const tr = buildRescueExec('amd64', { plan, host: host.state });
    t.equal(tr.arch, 'amd64');
    t.equal(tr.kind, 'rescue-exec');
    const e = tr.entry;
    const { rdi, rsi, rdx, rsp } = e.regs;
    if (rdi === undefined || rsi === undefined || rdx === undefined || rsp === undefined || e.cr3 === undefined) {
      t.fail('entry registers missing');
      t.end();
      return;
    }
    const pool = plan.segments.find((s) => s.kind === 'page-tables');
    t.equal(seg(tr, 'page-tables').phys, pool?.phys, "the tables go in the plan's 16-page pool");
    t.ok(seg(tr, 'page-tables').data.length <= 16 * 4096, 'at most NRESCUEPTP pages');
    t.equal(seg(tr, 'code').phys, host.state.text.pa, 'the code goes in host text');
    t.notOk(
      tr.segments.some((s) =>
        plan.segments.some(
          (p) => p.kind !== 'page-tables' && s.phys < p.phys + p.memSize && p.phys < s.phys + BigInt(s.data.length),
        ),
      ),
      'no trampoline byte lands on the params, firmware map, kenv or kernel',
    );
    t.equal(tr.code.labels['rescue_itramp'], e.pc + 2n, 'rescue_itramp follows the 2-byte jmp *%rdx');

    const pages = pagesOf(host.pool, tr);
    // E4/E5: RIP is the host VA of rescue_tramp and reaches it through the copied upper half.
    t.equal(e.pc, host.state.text.va);
    t.equal(walkX86(pages, e.cr3, e.pc)?.pa, host.state.text.pa, 'temporary root: RIP -> rescue_tramp');
    // jmp *%rdx lands on the identity copy, mapped read-only in the temporary root.
    t.equal(rdx, host.state.text.pa + 2n, 'RDX = identity address of rescue_itramp');
    t.same(walkX86(pages, e.cr3, rdx), { pa: rdx, rw: false, nx: false, size: PAGE }, 'temporary root: itramp page');
    // After mov %rdi,%cr3 the next instruction (jmp *%rsi, at itramp + 3) is fetched through the new root.
    t.equal(walkX86(pages, rdi, rdx + 3n)?.pa, rdx + 3n, 'rescue root: the 2 MiB around the trampoline is identity');
    t.equal(walkX86(pages, rdi, rdx)?.rw, false, 'rescue root: trampoline mapping is read-only');
    // The stack is reachable before and after the switch (btext pushes PSL_KERNEL).
    const stackPa = (va: bigint): bigint => {
      const i = Number((va - host.state.stack.va) / PAGE);
      return (host.state.stack.pages[i] ?? 0n) + (va % PAGE);
    };
    for (const [root, name] of [
      [e.cr3, 'temporary'],
      [rdi, 'rescue'],
    ] as const) {
      const s = walkX86(pages, root, rsp - 8n);
      t.equal(s?.pa, stackPa(rsp - 8n), `${name} root: the push below RSP lands on the kernel stack`);
      t.equal(s?.rw, true, `${name} root: the stack is writable`);
    }
    t.equal(walkX86(pages, rdi, rsp)?.nx, true, 'rescue root: the stack is NX');
    // stopAt: e_entry in the rescue root -> the kernel copy at +2 MiB.
    t.equal(rsi, plan.kernelEntryVa, 'RSI = e_entry');
    t.equal(tr.stopAt, plan.kernelEntryVa);
    const kseg = plan.segments.find((s) => s.kind === 'kernel');
    const entryPa = plan.region.start + 2n * MiB + (plan.kernelEntryVa - (AMD64_KERNBASE + 2n * MiB));
    t.equal(walkX86(pages, rdi, tr.stopAt)?.pa, entryPa, 'e_entry -> rescue_pa + 2 MiB + (e_entry - KERNSTART)');
    t.equal(entryPa, plan.entry);
    t.ok(kseg !== undefined && entryPa >= kseg.phys && entryPa < kseg.phys + kseg.memSize, 'inside the kernel copy');
    // hammer_time's view: KERNSTART by a 2 MiB page at a 2 MiB-aligned PA below 4 GiB, params at KERNBASE.
    const ks = walkX86(pages, rdi, AMD64_KERNBASE + 2n * MiB);
    t.same([ks?.pa, ks?.size], [plan.region.start + 2n * MiB, 2n * MiB], 'KERNSTART PDE -> rescue_pa + 2 MiB');
    t.ok((ks?.pa ?? 1n << 40n) < 1n << 32n, 'below 4 GiB');
    t.equal(walkX86(pages, rdi, AMD64_KERNBASE)?.pa, plan.region.start, 'VA KERNBASE -> the params');
    t.equal(walkX86(pages, rdi, AMD64_KERNBASE + plan.region.size - 1n)?.pa, lastByte(plan.region));
    for (const pa of [plan.region.start, lastByte(plan.region), seg(tr, 'page-tables').phys]) {
      t.equal(walkX86(pages, rdi, pa)?.pa, pa, `rescue root: identity ${pa.toString(16)}`);
    }
    const bios = walkX86(pages, rdi, 0x10n);
    t.equal(bios?.pa, 0x10n, 'PA 0..4 KiB for the BIOS');
    // D47358 quirk, kept: the PD under PDP[0] was allocated for rescue_tramp with A|V (no RW),
    // so the RW|V PTE for PA 0 is read-only in effect when the host text shares PA 0's 1 GiB.
    t.equal(bios?.rw, false, 'PA 0..4 KiB is read-only through the A|V PDP entry');
    // Long mode with PAE, without PGE/PCIDE; NXE for the NX stack PTEs.
    t.equal((e.cr0 ?? 0n) & 0x8000_0001n, 0x8000_0001n, 'CR0.PG|PE');
    t.equal((e.cr4 ?? 0n) & 0x2_00a0n, 0x20n, 'CR4.PAE, no PGE, no PCIDE');
    t.equal((e.efer ?? 0n) & 0xd00n, 0xd00n, 'EFER.LME|LMA|NXE');
    t.equal(e.mmu, 'on');
    t.same(e.stack, { va: host.state.stack.va, size: 4n * PAGE, sp: rsp });
    t.same(tr.writable, [], 'the rescue jump stores nothing');
    t.same(tr.copyLoops, []);
    t.ok(
      tr.tables.every((r) => covered(r, [plan.region])),
      'its tables lie in the reservation',
    );
    t.end();
  });
}

for (const profile of ['arm64-fdt', 'arm64-acpi']) {
  t.test(`arm64 rescue-exec on ${profile}`, (t) => {
    const plan = rescuePlan(profile);
    const host = hostFor(plan, profile);
    const tr = buildRescueExec('arm64', { plan, host: host.state });
    const e = tr.entry;
    const { x0, x1, x2, sp } = e.regs;
    if (x0 === undefined || x1 === undefined || x2 === undefined || sp === undefined || e.ttbr1 === undefined) {
      t.fail('entry registers missing');
      t.end();
      return;
    }
    const pages = pagesOf(host.pool, tr);
    t.equal(walkA64(pages, e.ttbr1, e.pc)?.pa, host.state.text.pa, 'TTBR1: PC -> the code in host text');
    t.equal(e.ttbr0, host.state.tables.lowRoot, "TTBR0 is the host's until the msr");
    t.equal(x0, ARM64_KERNBASE + plan.region.size, 'x0 = KERNBASE + rescue_memsize (the whole reservation)');
    t.equal(x1, host.state.scratch, 'x1 = pt_l0 in host memory');
    t.equal(seg(tr, 'page-tables').phys, host.state.scratch);
    t.equal(seg(tr, 'page-tables').data.length, 3 * 4096, 'pt_l0, pt_l1, pt_l2');
    const expect = plan.region.start + 2n * MiB + (plan.kernelEntryVa - ARM64_KERNBASE);
    t.equal(x2, expect, 'x2 = rescue_pa + 2 MiB + (e_entry - KERNBASE)');
    t.equal(tr.stopAt, x2);
    // After the msr: x2 and the whole reservation identity-mapped, uncacheable, nG.
    const leaf = walkA64(pages, x1, x2);
    t.equal(leaf?.pa, x2, 'new TTBR0: x2 identity');
    t.equal(leaf?.level, 2, '2 MiB block');
    t.equal(
      leaf?.attrs,
      (1n << 11n) | (1n << 10n) | (3n << 8n) | (1n << 2n),
      'nG | AF | SH(IS) | AttrIndx(UNCACHEABLE)',
    );
    for (const pa of [plan.region.start, lastByte(plan.region)]) t.equal(walkA64(pages, x1, pa)?.pa, pa);
    t.equal(walkA64(pages, x1, plan.region.start - 1n), undefined, 'nothing below the reservation');
    const end2m = (plan.region.start + plan.region.size + 2n * MiB - 1n) & ~(2n * MiB - 1n);
    t.equal(walkA64(pages, x1, end2m - 1n)?.pa, end2m - 1n, 'the last block reaches the next 2 MiB boundary');
    t.equal(walkA64(pages, x1, end2m), undefined, 'nothing past it');
    const kseg = plan.segments.find((s) => s.kind === 'kernel');
    t.ok(kseg !== undefined && x2 >= kseg.phys && x2 < kseg.phys + kseg.memSize, 'x2 is inside the kernel copy');
    const below = sp - 16n;
    t.equal(
      walkA64(pages, e.ttbr1, below)?.pa,
      (host.state.stack.pages[3] ?? 0n) + (below % PAGE),
      'the stack below SP is mapped',
    );
    t.equal((e.sctlr ?? 0n) & 0x1005n, 0x1005n, 'SCTLR.M|C|I: the host runs with the MMU on');
    t.equal(((e.mair ?? 0n) >> 8n) & 0xffn, 0x44n, 'MAIR index 1 = Normal non-cacheable');
    t.equal(e.tcr, 0x2_b510_3510n, 'TCR as measured on Unicorn: T0SZ = T1SZ = 16, 4 KiB, IPS 40 bit');
    t.same(tr.writable, []);
    t.end();
  });
}

t.test('amd64 kexec-reboot', (t) => {
  const input = kexecInput('amd64');
  const tr = buildKexecReboot('amd64', input);
  const code = seg(tr, 'code');
  const data = seg(tr, 'data');
  t.equal(code.phys, input.at);
  t.equal(data.phys, input.at + BigInt(code.data.length), 'the data block follows the code');
  t.equal(data.phys % 64n, 0n);
  t.ok(data.phys + BigInt(data.data.length) <= input.at + PAGE, 'code and data share one page');
  // The data block, decoded with its layouts.
  const block = Amd64KexecBlock.decode(data.data);
  t.equal(block.ncopies, 3n);
  input.copies.forEach((c, i) =>
    t.same(TrampCopy.decode(block.copies, i * TrampCopy.size), { src: c.src, dst: c.dst, len: c.len }, `copy ${i}`),
  );
  t.same(TrampCopy.decode(block.copies, 3 * TrampCopy.size), { src: 0n, dst: 0n, len: 0n }, 'unused slots are zero');
  const td = Amd64TrampData.decode(block.tramp);
  const loader = seg(tr, 'page-tables', 0);
  t.equal(loader.phys, input.at + PAGE, "PT4 at trampoline + 4K, as kboot's elf64_exec");
  t.equal(loader.data.length, 9 * 4096);
  t.same(td, {
    memmapSrc: input.kernel.memmap?.src,
    memmapDst: input.kernel.memmap?.dst,
    memmapLen: input.kernel.memmap?.len,
    pt4: loader.phys,
    entry: input.kernel.entry,
    fill1: 0,
    modulep: Number(input.kernel.modulep),
    kernend: Number(input.kernel.kernend),
    fill2: 0,
  });
  // btext's stack: ret pops `entry`, leaving RSP at fill1; read 4(%rsp)/8(%rsp) from the raw bytes.
  const fill1Pa = data.phys + BigInt(Amd64KexecBlock.offsets.tramp + Amd64TrampData.offsets.fill1);
  const dv = new DataView(data.data.buffer, data.data.byteOffset);
  const rspOff = Number(fill1Pa - data.phys);
  t.equal(BigInt(dv.getUint32(rspOff + 4, true)), input.kernel.modulep, '4(%rsp) = modulep');
  t.equal(BigInt(dv.getUint32(rspOff + 8, true)), input.kernel.kernend, '8(%rsp) = kernend');

  const pages = pagesOf(tr);
  const cr3 = tr.entry.cr3 ?? 0n;
  // Entry identity map covers the code page, the data block, every source and destination.
  const touched: PhysRange[] = [
    { start: input.at, size: PAGE as Size },
    { start: data.phys, size: BigInt(data.data.length) as Size },
    ...input.copies.flatMap((c) => [
      { start: c.src, size: c.len },
      { start: c.dst, size: c.len },
    ]),
  ];
  const mm = input.kernel.memmap;
  if (mm !== undefined) touched.push({ start: mm.src, size: mm.len }, { start: mm.dst, size: mm.len });
  for (const r of touched) {
    for (const pa of [r.start, lastByte(r)]) {
      const w = walkX86(pages, cr3, pa);
      t.same([w?.pa, w?.rw], [pa, true], `entry map: identity RW ${pa.toString(16)}`);
    }
  }
  t.equal(tr.entry.pc, input.at);
  // After mov %rax,%cr3: ret is fetched, and the stack read, through loader.kboot's tables.
  const ret = tr.code.labels['to_btext'] ?? 0n;
  t.equal(walkX86(pages, td.pt4, ret)?.pa, ret, 'loader tables: the ret is identity');
  const st = walkX86(pages, td.pt4, fill1Pa - 8n);
  t.same([st?.pa, st?.rw], [fill1Pa - 8n, true], 'loader tables: the stack is identity RW');
  // stopAt = btext, mapped to staging + (btext - KERNBASE), inside the kernel copy's destination.
  const staging = input.kernel.staging ?? 0n;
  t.equal(tr.stopAt, input.kernel.entry);
  const btext = walkX86(pages, td.pt4, tr.stopAt);
  t.equal(btext?.pa, staging + (input.kernel.entry - AMD64_KERNBASE));
  const kernel = input.copies[0];
  t.ok(
    kernel !== undefined && (btext?.pa ?? 0n) >= kernel.dst && (btext?.pa ?? 0n) < kernel.dst + kernel.len,
    'btext is in the copied kernel',
  );
  const ks = walkX86(pages, td.pt4, AMD64_KERNBASE + 2n * MiB);
  t.same([ks?.pa, ks?.size], [staging + 2n * MiB, 2n * MiB], 'KERNSTART PDE -> staging + 2 MiB');
  // The loop descriptors point at rep movsq.
  t.equal(tr.copyLoops.length, 2);
  for (const l of tr.copyLoops) {
    const off = Number(l.at - tr.code.va);
    t.same([...code.data.subarray(off, off + 3)], [0xf3, 0x48, 0xa5], `${l.label}: rep movsq at ${l.at.toString(16)}`);
    t.equal(l.exit, l.at + 3n);
    t.same(l.regs, { src: 'rsi', dst: 'rdi', count: 'rcx', scratch: [] });
  }
  t.same(
    tr.writable,
    [...input.copies.map((c) => ({ start: c.dst, size: c.len })), { start: mm?.dst, size: mm?.len }],
    'writable = the destinations',
  );
  const area = { start: input.at, size: BigInt(trampolineOps('amd64').kexecAreaBytes) as Size };
  t.ok(
    tr.tables.every((r) => covered(r, [area])) &&
      tr.segments.every((s) => covered({ start: s.phys, size: BigInt(s.data.length) as Size }, [area])),
    'everything inside the area',
  );
  t.end();
});

t.test('arm64 kexec-reboot', (t) => {
  const input = kexecInput('arm64');
  const tr = buildKexecReboot('arm64', input);
  const code = seg(tr, 'code');
  const data = seg(tr, 'data');
  t.equal(data.phys, input.at + BigInt(code.data.length));
  const block = Arm64KexecBlock.decode(data.data);
  t.equal(block.ncopies, BigInt(input.copies.length));
  input.copies.forEach((c, i) =>
    t.same(TrampCopy.decode(block.copies, i * TrampCopy.size), { src: c.src, dst: c.dst, len: c.len }, `copy ${i}`),
  );
  t.same(Arm64TrampData.decode(block.tramp), {
    entry: input.kernel.entry,
    modulep: input.kernel.modulep,
    memmapSrc: input.kernel.memmap?.src,
    memmapDst: input.kernel.memmap?.dst,
    memmapLen: input.kernel.memmap?.len,
  });
  t.same(
    tr.entry,
    { pc: input.at, regs: { x0: input.fdt, x1: 0n }, mmu: 'off', sctlr: 0x30d0_0800n },
    'MMU and caches off',
  );
  t.equal(tr.stopAt, input.kernel.entry, 'stopAt = the entry PA');
  const loop = tr.copyLoops[0];
  t.equal(tr.copyLoops.length, 1);
  if (loop !== undefined) {
    const word = (va: bigint): number =>
      new DataView(code.data.buffer, code.data.byteOffset).getUint32(Number(va - tr.code.va), true);
    t.equal((word(loop.at) & 0xff00_001f) >>> 0, 0xb400_0003, 'the head is cbz x3');
    t.equal(word(loop.at + 4n), 0xa8c1_1424, 'ldp x4, x5, [x1], #16');
    t.same(
      [loop.countUnit, loop.chunk, loop.regs],
      [1, 16, { src: 'x1', dst: 'x2', count: 'x3', scratch: ['x4', 'x5'] }],
    );
  }
  t.same(tr.tables, [], 'no tables: the MMU is off');
  t.end();
});

t.test('TrampolineError codes, each from one mutated field', (t) => {
  const amdPlan = rescuePlan('amd64-efi');
  const amdHost = hostFor(amdPlan, 'amd64-efi').state;
  const armPlan = rescuePlan('arm64-fdt');
  const armHost = hostFor(armPlan, 'arm64-fdt').state;
  const amdK = kexecInput('amd64');
  const armK = kexecInput('arm64');
  const C = TrampolineCode;
  const withCopy = (k: KexecRebootInput, i: number, patch: Partial<KexecCopy>): KexecRebootInput => ({
    ...k,
    copies: k.copies.map((c, j) => (j === i ? { ...c, ...patch } : c)),
  });

  // TRAMPOLINE_BAD_INPUT
  throwsCode(t, () => buildRescueExec('amd64', { plan: armPlan, host: amdHost }), C.BadInput, 'arm64 plan to amd64');
  throwsCode(t, () => buildRescueExec('arm64', { plan: amdPlan, host: armHost }), C.BadInput, 'amd64 plan to arm64');
  throwsCode(
    t,
    () =>
      buildRescueExec('amd64', {
        plan: amdPlan,
        host: { ...amdHost, stack: { ...amdHost.stack, sp: amdHost.stack.va } },
      }),
    C.BadInput,
    'SP at the bottom of the stack, outside it',
  );
  throwsCode(
    t,
    () => buildRescueExec('amd64', { plan: amdPlan, host: { ...amdHost, tables: { root: amdHost.tables.root } } }),
    C.BadInput,
    'no PML4 upper half',
  );
  throwsCode(
    t,
    () =>
      buildRescueExec('amd64', {
        plan: amdPlan,
        host: { ...amdHost, text: { ...amdHost.text, va: 0x40_11c0n as KernelVa } },
      }),
    C.BadInput,
    'host text in the lower half',
  );
  throwsCode(
    t,
    () =>
      buildRescueExec('amd64', {
        plan: amdPlan,
        host: { ...amdHost, text: { ...amdHost.text, va: (amdHost.text.va + 0x40n) as KernelVa } },
      }),
    C.BadInput,
    'PA and VA at different page offsets',
  );
  throwsCode(
    t,
    () => buildRescueExec('arm64', { plan: armPlan, host: { ...armHost, tables: { root: armHost.tables.root } } }),
    C.BadInput,
    'no TTBR0',
  );
  throwsCode(
    t,
    () => buildRescueExec('arm64', { plan: armPlan, host: { ...armHost, scratch: armPlan.region.start } }),
    C.BadInput,
    'pt_l0..2 inside the reservation',
  );
  throwsCode(
    t,
    () =>
      buildRescueExec('arm64', { plan: armPlan, host: { ...armHost, scratch: (armHost.scratch + 8n) as PhysAddr } }),
    C.BadInput,
    'pt_l0..2 not page aligned',
  );
  throwsCode(
    t,
    () =>
      buildRescueExec('arm64', {
        plan: armPlan,
        host: { ...armHost, text: { ...armHost.text, va: 0x4001_11c0n as KernelVa } },
      }),
    C.BadInput,
    'host text not a TTBR1 address',
  );
  const { staging: _s, ...noStaging } = amdK.kernel;
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, kernel: noStaging }),
    C.BadInput,
    'amd64 kexec without staging',
  );

  // TRAMPOLINE_CODE_MISALIGNED: code that could straddle a page
  const shift = (h: typeof amdHost, by: bigint): typeof amdHost => ({
    ...h,
    text: { pa: (h.text.pa + by) as PhysAddr, va: (h.text.va + by) as KernelVa },
  });
  throwsCode(
    t,
    () => buildRescueExec('amd64', { plan: amdPlan, host: shift(amdHost, 0xe3cn) }),
    C.CodeMisaligned,
    'rescue_tramp at a page end',
  );
  throwsCode(
    t,
    () => buildRescueExec('arm64', { plan: armPlan, host: shift(armHost, 0x20n) }),
    C.CodeMisaligned,
    'arm64 tail not 64-aligned',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, at: (amdK.at + 0xfc0n) as PhysAddr }),
    C.CodeMisaligned,
    'kexec area not page aligned',
  );
  throwsCode(t, () => buildKexecReboot('arm64', { ...armK, at: (armK.at + 0x800n) as PhysAddr }), C.CodeMisaligned);

  // TRAMPOLINE_SEGMENT_LENGTH
  throwsCode(
    t,
    () => buildKexecReboot('amd64', withCopy(amdK, 0, { len: 0x7004n as Size })),
    C.SegmentLength,
    'amd64: 4 bytes short of a qword',
  );
  throwsCode(
    t,
    () => buildKexecReboot('arm64', withCopy(armK, 1, { len: 0x1008n as Size })),
    C.SegmentLength,
    'arm64: not 16-byte multiple',
  );
  const mm = amdK.kernel.memmap;
  if (mm !== undefined) {
    throwsCode(
      t,
      () => buildKexecReboot('amd64', { ...amdK, kernel: { ...amdK.kernel, memmap: { ...mm, len: 0x61n as Size } } }),
      C.SegmentLength,
      'memmap not a qword multiple',
    );
  }

  // TRAMPOLINE_TOO_MANY_SEGMENTS
  const seventeen = (k: KexecRebootInput, base: bigint): KexecRebootInput => ({
    ...k,
    copies: Array.from({ length: 17 }, (_, i) => ({
      label: `s${i}`,
      src: (base + BigInt(i) * 2n * PAGE) as PhysAddr,
      dst: (base + 0x100_0000n + BigInt(i) * 2n * PAGE) as PhysAddr,
      len: PAGE as Size,
    })),
  });
  throwsCode(t, () => buildKexecReboot('amd64', seventeen(amdK, 0x0900_0000n)), C.TooManySegments);
  throwsCode(t, () => buildKexecReboot('arm64', seventeen(armK, 0x5100_0000n)), C.TooManySegments);

  // TRAMPOLINE_SEGMENT_OVERLAP (every pair listed)
  const dstOverlap = withCopy(amdK, 1, { dst: 0x0420_6000n as PhysAddr });
  const e = throwsCode(t, () => buildKexecReboot('amd64', dstOverlap), C.SegmentOverlap, 'two destinations overlap');
  t.equal((e?.details['problems'] as unknown[] | undefined)?.length, 1, 'one pair reported');
  throwsCode(
    t,
    () => buildKexecReboot('amd64', withCopy(amdK, 1, { src: 0x0420_0000n as PhysAddr })),
    C.SegmentOverlap,
    'a source under a destination',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', withCopy(amdK, 2, { dst: 0x0010_8000n as PhysAddr })),
    C.SegmentOverlap,
    "over loader.kboot's tables",
  );
  throwsCode(
    t,
    () => buildKexecReboot('arm64', withCopy(armK, 0, { dst: armK.at })),
    C.SegmentOverlap,
    'over the arm64 trampoline',
  );
  const amm = amdK.kernel.memmap;
  if (amm !== undefined) {
    throwsCode(
      t,
      () =>
        buildKexecReboot('amd64', {
          ...amdK,
          kernel: { ...amdK.kernel, memmap: { ...amm, src: 0x0430_0000n as PhysAddr } },
        }),
      C.SegmentOverlap,
      'the memmap source under a destination',
    );
  }

  // TRAMPOLINE_BAD_RANGE
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, kernel: { ...amdK.kernel, modulep: 1n << 32n } }),
    C.BadRange,
    'modulep past u32',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, kernel: { ...amdK.kernel, entry: AMD64_KERNBASE + 0x1000n } }),
    C.BadRange,
    'btext below KERNSTART',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, at: 0xffff_0000n as PhysAddr }),
    C.BadRange,
    'the area passes 4 GiB',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', withCopy(amdK, 2, { src: 0x7fff_ffff_f000n as PhysAddr, len: 0x2000n as Size })),
    C.BadRange,
    'a source past 2^47',
  );
  throwsCode(
    t,
    () => buildKexecReboot('amd64', { ...amdK, kernel: { ...amdK.kernel, staging: 0x0410_0000n as PhysAddr } }),
    C.BadRange,
    'staging not 2 MiB aligned',
  );
  throwsCode(
    t,
    () => buildKexecReboot('arm64', { ...armK, kernel: { ...armK.kernel, entry: 1n << 48n } }),
    C.BadRange,
    'arm64 entry past 2^48',
  );
  throwsCode(
    t,
    () =>
      buildRescueExec('arm64', {
        plan: { ...armPlan, region: { start: 0x7ff0_0000n as PhysAddr, size: armPlan.region.size } },
        host: armHost,
      }),
    C.BadRange,
    'a reservation across 1 GiB',
  );

  // TRAMPOLINE_POOL_EXHAUSTED: an entry identity map that needs more than its 32 pages
  const scattered: KexecRebootInput = {
    ...amdK,
    copies: Array.from({ length: 16 }, (_, i) => ({
      label: `g${i}`,
      src: (BigInt(i + 1) << 39n) as PhysAddr,
      dst: ((BigInt(i + 1) << 39n) + (1n << 30n)) as PhysAddr,
      len: PAGE as Size,
    })),
  };
  throwsCode(t, () => buildKexecReboot('amd64', scattered), C.PoolExhausted, '16 copies in 16 different 512 GiB slots');

  // TRAMPOLINE_STACK_CONFLICT through the builder: a thread0-like stack inside the KERNBASE slot.
  throwsCode(
    t,
    () =>
      buildRescueExec('amd64', {
        plan: amdPlan,
        host: {
          ...amdHost,
          stack: {
            ...amdHost.stack,
            va: (AMD64_KERNBASE + 0x40_0000n) as KernelVa,
            sp: (AMD64_KERNBASE + 0x40_1000n) as KernelVa,
          },
        },
      }),
    C.StackConflict,
    "thread0's stack at KERNBASE + 4 MiB is already mapped by the rescue map",
  );
  t.end();
});

t.test('property: kexec copy tables round-trip and the amd64 entry map covers every copy', (t) => {
  // Disjoint page-granular copies: sources from 256 MiB up, destinations from 64 MiB up.
  const arb = fc
    .uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 0, maxLength: 16 })
    .chain((slots) =>
      fc.tuple(
        fc.constant(slots),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: slots.length, maxLength: slots.length }),
      ),
    );
  fc.assert(
    fc.property(arb, ([slots, pages]) => {
      const copies: KexecCopy[] = slots.map((s, i) => ({
        label: `c${i}`,
        src: (0x1000_0000n + BigInt(s) * 4n * PAGE) as PhysAddr,
        dst: (0x0400_0000n + BigInt(s) * 4n * PAGE) as PhysAddr,
        len: (BigInt(pages[i] ?? 1) * PAGE) as Size,
      }));
      for (const arch of ['amd64', 'arm64'] as const) {
        const base = kexecInput(arch);
        const off = arch === 'arm64' ? 0x4000_0000n : 0n;
        const shifted = copies.map((c) => ({
          ...c,
          src: (c.src + off) as PhysAddr,
          dst: (c.dst + off + 0x100_0000n) as PhysAddr,
        }));
        const { memmap: _m, ...kernel } = base.kernel;
        const tr = buildKexecReboot(arch, { ...base, copies: shifted, kernel });
        const layout = arch === 'amd64' ? Amd64KexecBlock : Arm64KexecBlock;
        const block = layout.decode(seg(tr, 'data').data);
        if (block.ncopies !== BigInt(shifted.length)) return false;
        for (const [i, c] of shifted.entries()) {
          const d = TrampCopy.decode(block.copies, i * TrampCopy.size);
          if (d.src !== c.src || d.dst !== c.dst || d.len !== c.len) return false;
        }
        if (arch === 'amd64') {
          const pagesMap = pagesOf(tr);
          for (const c of shifted) {
            for (const pa of [c.src, c.src + c.len - 1n, c.dst, c.dst + c.len - 1n]) {
              if (walkX86(pagesMap, tr.entry.cr3 ?? 0n, pa)?.pa !== pa) return false;
            }
          }
        }
      }
      return true;
    }),
    { numRuns: 40 },
  );
  t.pass('40 random copy lists');
  t.end();
});

t.test('fuzz: kexec builders throw only TrampolineError', (t) => {
  // Addresses anywhere in (and a little past) the u64 space, lengths of any size and alignment.
  const addr = fc.oneof(
    fc.bigInt({ min: 0n, max: 0x2_0000_0000n }).map((v) => v & ~0xfffn),
    fc.bigInt({ min: -0x1000n, max: (1n << 64n) + 0x1000n }),
  );
  const copy = fc.record({
    label: fc.constant('f'),
    src: addr,
    dst: addr,
    len: fc.bigInt({ min: -16n, max: 1n << 40n }),
  });
  const input = fc.record({
    arch: fc.constantFrom('amd64' as const, 'arm64' as const),
    at: addr,
    copies: fc.array(copy, { maxLength: 18 }),
    entry: fc.oneof(addr, fc.bigInt({ min: 0xffff_ffff_8000_0000n, max: 0xffff_ffff_ffff_ffffn })),
    modulep: fc.bigInt({ min: -1n, max: 1n << 65n }),
    kernend: fc.bigInt({ min: -1n, max: 1n << 33n }),
    staging: addr,
  });
  fc.assert(
    fc.property(input, (i) => {
      try {
        buildKexecReboot(i.arch, {
          at: i.at as PhysAddr,
          copies: i.copies as unknown as KexecCopy[],
          kernel: { entry: i.entry, modulep: i.modulep, kernend: i.kernend, staging: i.staging as PhysAddr },
        });
        return true;
      } catch (e) {
        return e instanceof TrampolineError;
      }
    }),
    { numRuns: 300 },
  );
  t.pass('300 random inputs');
  t.end();
});
