// The x86-64 shadow mappings follow the live page tables, not a fixed offset: the rescue
// root's KERNBASE mapping is pointed at a copy of the reservation elsewhere in RAM, and the
// probe kernel runs from, reads its params from and reports into that copy.
import t from 'tap';
import { phys, size } from '../../loader/addr.js';
import { parseElf } from '../../loader/elf/reader.js';
import { loadProfile } from '../../loader/plan/profile.js';
import {
  buildProbeKernel,
  decodeProbeReport,
  PROBE_REPORT_OFFSET,
  ProbeReportLayout,
} from '../../kernels/probe/index.js';
import { prepareHandOff } from '../../machine/exec.js';
import { runJump, unprotectAll } from '../../machine/jump.js';
import { Machine } from '../../machine/machine.js';
import { nativeAvailable } from '../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const MiB = 1n << 20n;
const FRAME = 0x000f_ffff_ffff_f000n;

t.test('amd64: KERNBASE remapped to a copy of the reservation', { skip }, (t) => {
  const profile = loadProfile('amd64-efi');
  const m = Machine.create(profile);
  try {
    const prep = prepareHandOff(m, parseElf(buildProbeKernel('amd64', { mode: 'rescue' })), 'probe.elf', {
      path: 'rescue',
    });
    const tramp = prep.tramp;
    m.place(tramp.segments.map((s) => ({ label: s.label, phys: s.phys, data: s.data })));
    const region = prep.area;
    // a copy of the reservation's first 4 MiB (params ... kernel) at another 2 MiB-aligned PA
    const other = phys(0x2_4000_0000n);
    m.ram.copy(other, region.start, size(4n * MiB));
    const marker = Uint8Array.from([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    m.ram.write(other, marker); // dp_msgbufpa of the copy: only the copy carries this
    // the rescue root: PML4[511] -> PDP[510] -> PD[0], PD[1] map KERNBASE and KERNSTART
    const u64 = (pa: bigint): bigint => new DataView(m.ram.read(phys(pa), 8).buffer).getBigUint64(0, true);
    const root = tramp.entry.regs['rdi'] ?? 0n;
    const pdp = u64(root + 511n * 8n) & FRAME;
    const pd = u64(pdp + 510n * 8n) & FRAME;
    // patch the PD entries inside the trampoline's page-table segment (runJump places it)
    const segments = tramp.segments.map((seg) => ({ ...seg, data: seg.data.slice() }));
    for (const i of [0n, 1n]) {
      const e = u64(pd + i * 8n);
      t.equal(e & FRAME, region.start + i * 2n * MiB, `PD[${i}] maps the reservation before the patch`);
      const at = pd + i * 8n;
      const seg = segments.find((x) => at >= x.phys && at < x.phys + BigInt(x.data.length));
      if (seg === undefined) throw new Error('PD entry outside the trampoline segments');
      new DataView(seg.data.buffer).setBigUint64(Number(at - seg.phys), (e & ~FRAME) | (other + i * 2n * MiB), true);
    }
    const originalReport = phys(region.start + 2n * MiB + BigInt(PROBE_REPORT_OFFSET));
    const before = m.ram.read(originalReport, ProbeReportLayout.size);
    const jump = runJump(m, { ...tramp, segments }, prep.gdt === undefined ? {} : { gdt: prep.gdt });
    t.ok(jump.reached, `entered the probe (${jump.stop.kind})`);
    unprotectAll(m);
    const stop = m.cpu.run({ maxInstructions: 1_000_000, timeoutMs: 10_000 });
    t.equal(stop.kind, 'halted');
    const report = decodeProbeReport(
      m.ram.read(phys(other + 2n * MiB + BigInt(PROBE_REPORT_OFFSET)), ProbeReportLayout.size),
    );
    t.ok(report.complete, 'the report was written into the copy');
    t.same([...report.handoff.subarray(0, 8)], [...marker], 'the params were read from the copy, through the tables');
    t.ok(m.ram.equals(originalReport, before), 'the original reservation was not written');
  } finally {
    m.close();
  }
  t.end();
});
