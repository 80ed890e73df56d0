// crashSegmentsFromPlan / crashRequestFromPlan on the rescue plan of every built-in machine:
// at most 16 page-aligned, non-overlapping segments inside the reservation whose bytes are
// exactly the plan's (rebuilt and compared byte for byte), accepted by the Linux crash rules
// (kexecLoad with the reservation as crashk_res) and by FreeBSD's kexec(2) rules.
import t from 'tap';
import type { PhysAddr, Size } from '../../../../loader/addr.js';
import { parseElf } from '../../../../loader/elf/reader.js';
import {
  crashRequestFromPlan,
  crashSegmentsFromPlan,
  kexecLoad,
  LINUX_KEXEC,
  LINUX_KEXEC_ARCH,
  type CrashSegment,
} from '../../../../loader/kexec/index.js';
import type { LoadPlan, Segment } from '../../../../loader/plan/load-plan.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { planRescue } from '../../../../loader/plan/rescue-plan.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';

/** The reservation's bytes as the plan describes them, up to the end of the last data. */
function planBytes(plan: LoadPlan): Uint8Array {
  const end = plan.segments.reduce((e, s) => {
    const x = Number(s.phys - plan.region.start) + s.data.length;
    return x > e ? x : e;
  }, 0);
  const out = new Uint8Array(end);
  for (const s of plan.segments) out.set(s.data, Number(s.phys - plan.region.start));
  return out;
}

/** The same bytes rebuilt from kexec segments (zero where no buffer reaches). */
function segmentBytes(plan: LoadPlan, segs: readonly CrashSegment[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (const s of segs) {
    const off = Number(s.mem - plan.region.start);
    out.set(s.buf.subarray(0, Math.max(0, Math.min(s.buf.length, len - off))), off);
  }
  return out;
}

for (const name of ['amd64-efi', 'amd64-bios', 'arm64-fdt', 'arm64-acpi']) {
  t.test(name, (t) => {
    const profile = loadProfile(name);
    const plan = planRescue({ kernel: parseElf(makeRescueKernel(profile.arch)), kernelName: 'rescue.elf', profile });
    const segs = crashSegmentsFromPlan(plan);
    t.ok(segs.length >= 1 && segs.length <= 16, `${segs.length} segments`);
    let prevEnd = 0n;
    for (const s of segs) {
      t.equal(s.mem % 0x1000n, 0n, 'page-aligned destination');
      t.equal(s.memsz % 0x1000n, 0n, 'page-multiple memsz');
      t.ok(BigInt(s.buf.length) <= s.memsz, 'bufsz <= memsz');
      t.ok(s.mem >= prevEnd, 'sorted, no overlap');
      t.ok(
        s.mem >= plan.region.start && s.mem + s.memsz <= plan.region.start + plan.region.size,
        'inside the reservation',
      );
      prevEnd = s.mem + s.memsz;
    }
    t.same(
      segs.flatMap((s) => s.labels),
      [...plan.segments].sort((a, b) => (a.phys < b.phys ? -1 : 1)).map((s) => s.label),
      'every plan segment, once',
    );
    const want = planBytes(plan);
    t.ok(
      Buffer.from(segmentBytes(plan, segs, want.length)).equals(Buffer.from(want)),
      'the same bytes at the same places',
    );
    const kernel = plan.segments.find((s) => s.kind === 'kernel');
    t.ok(
      kernel !== undefined && segs.some((s) => s.mem <= kernel.phys && kernel.phys + kernel.memSize <= s.mem + s.memsz),
      "the kernel's BSS is covered (zero-filled by the kernel)",
    );

    const req = crashRequestFromPlan(plan, 'linux');
    t.equal(req.flags, LINUX_KEXEC.ON_CRASH | LINUX_KEXEC_ARCH[plan.arch]);
    t.equal(req.entry, plan.entry);
    const linux = kexecLoad(
      {
        abi: 'linux',
        arch: plan.arch,
        userspaceReached: true,
        crashReservation: plan.region,
        physSegs: plan.memoryMap.ram,
        loaded: {},
      },
      req,
    );
    t.ok(linux.ok, 'the Linux crash rules accept it');
    if (!linux.ok) t.comment(linux.error.message);
    if (linux.ok) t.ok(linux.image?.controlPage !== undefined, 'and find a control page in the reservation');
    const bsd = crashRequestFromPlan(plan, 'freebsd');
    t.equal(bsd.flags, 0n, 'FreeBSD: flags are reserved');
    const fb = kexecLoad(
      { abi: 'freebsd', arch: plan.arch, userspaceReached: true, physSegs: plan.memoryMap.ram, loaded: {} },
      bsd,
    );
    t.ok(fb.ok && fb.warnings.length === 0, "FreeBSD's kexec(2) accepts it without a warning");
    t.end();
  });
}

t.test('pages shared by two plan segments merge; far ones do not; the limit merges the smallest gaps', (t) => {
  const base = 0x4000_0000n;
  const mk = (label: string, off: bigint, len: number, memSize = BigInt(len)): Segment => ({
    kind: 'params',
    label,
    phys: (base + off) as PhysAddr,
    data: new Uint8Array(len).fill(label.charCodeAt(0)),
    memSize: memSize as Size,
    align: 8n as Size,
  });
  const plan = {
    arch: 'amd64',
    region: { start: base as PhysAddr, size: 0x100_0000n as Size },
    entry: base as PhysAddr,
    segments: [
      mk('a', 0n, 0xa0),
      mk('b', 0xa0n, 0x30),
      mk('c', 0x1000n, 0x10),
      mk('d', 0x10000n, 0x10, 0x2000n),
      mk('e', 0x40000n, 0x10),
    ],
  } as unknown as LoadPlan;
  t.same(
    crashSegmentsFromPlan(plan).map((s) => [s.mem - base, s.memsz, s.buf.length, s.labels]),
    [
      [0n, 0x2000n, 0x1010, ['a', 'b', 'c']],
      [0x10000n, 0x2000n, 0x10, ['d']],
      [0x40000n, 0x1000n, 0x10, ['e']],
    ],
    'a and b share a page, c is the next page (adjacent)',
  );
  t.same(
    crashSegmentsFromPlan(plan, { maxSegments: 2 }).map((s) => [s.mem - base, s.memsz, s.labels]),
    [
      [0n, 0x12000n, ['a', 'b', 'c', 'd']],
      [0x40000n, 0x1000n, ['e']],
    ],
    'the smaller gap is merged first',
  );
  const one = crashSegmentsFromPlan(plan, { maxSegments: 1 });
  t.equal(one.length, 1);
  t.equal(one[0]?.buf[0x40000], 'e'.charCodeAt(0), 'the data lands at its offset across merged gaps');
  t.end();
});
