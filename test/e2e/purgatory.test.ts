// The corruption check before the jump (issue 7, point 2), modelled on kexec-tools' purgatory
// (purgatory/purgatory.c verify_sha256_digest over the sha256_regions kexec/kexec.c recorded at
// load): for each arch and strategy, one byte changed in a staged segment between arming and
// the panic refuses the jump and names the segment, and rescue_kernel_exec never runs (no jump,
// the CPU where it was, nothing placed in the reservation); restoring the byte lets the check
// pass. Bytes the host rewrites at panic (the dump params, the amd64 page-table pool) and bytes
// outside the staged segments (a host page, the rescue kernel's free memory) do not stop the
// jump. A kexec reload re-records; an unload drops the digests with the crash kernel.
import t from 'tap';
import { formatRange, phys, rangeEnd, size, type PhysRange } from '../../loader/addr.js';
import { AMD64_RESCUE_DUMP_PARAMS_SIZE, ARM64_RESCUE_DUMP_PARAMS_SIZE } from '../../loader/handoff/params.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { dumpParams } from '../../machine/host/model.js';
import { nativeAvailable } from '../../native/binding.js';
import { isProtected } from '../../machine/purgatory.js';
import { HostSession } from '../../machine/session.js';
import { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const rescueFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel(p.arch, { mode: 'rescue', ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });
const PC = { amd64: 'rip', arm64: 'pc' } as const;
const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function armed(profile: MachineProfile, strategy: StrategyId, rescue: Uint8Array): HostSession {
  const s = HostSession.boot({ profile, strategy, rescue });
  s.advanceTo('running');
  if (strategy === 'kexec') {
    const out = s.loadCrash(rescue);
    if (!out.ok) throw out.error;
  }
  return s;
}

/** Changes one byte of guest RAM (xor 0x5a, so flipping twice restores it). */
function flip(s: HostSession, pa: bigint): void {
  const b = s.machine.ram.read(phys(pa), 1)[0] ?? 0;
  s.machine.ram.write(phys(pa), Uint8Array.of(b ^ 0x5a));
}

/** SHA-256 of the reservation past the dump params (what panic() may rewrite before the check). */
function reservationPastDumpParams(s: HostSession): string {
  const r = s.expected.region;
  const dump = BigInt(s.profile.arch === 'amd64' ? AMD64_RESCUE_DUMP_PARAMS_SIZE : ARM64_RESCUE_DUMP_PARAMS_SIZE);
  return s.machine.ram.sha256(phys(r.start + dump), size(r.size - dump));
}

const inside = (pa: bigint, r: PhysRange): boolean => pa >= r.start && pa < rangeEnd(r);

for (const name of ['amd64-efi', 'arm64-fdt']) {
  const profile = loadProfile(name);
  const rescue = rescueFor(profile);
  for (const strategy of STRATEGY_IDS) {
    t.test(`${name} ${strategy}: a byte changed in a staged segment refuses the jump and names it`, { skip }, (t) => {
      const s = armed(profile, strategy, rescue);
      try {
        const a = s.armed;
        if (a === undefined) throw new Error('not armed');
        const digests = a.digests;
        const staged = a.plan.segments.filter((seg) => seg.data.length > 0);
        t.same(
          digests.segments.slice(0, staged.length).map((d) => d.label),
          staged.map((seg) => seg.label),
          'every staged plan segment is recorded',
        );
        const loaded = digests.segments.slice(staged.length);
        if (strategy === 'kexec') {
          t.ok(loaded.length >= 2, 'and every kexec_load segment');
          for (const d of loaded) t.match(d.label, /^kexec segment \d+ \(.+\)$/);
        } else {
          t.equal(loaded.length, 0, 'no kexec segments without kexec_load');
        }
        const pcReg = PC[profile.arch];
        const pc = s.machine.cpu.reg(pcReg);

        for (const seg of staged) {
          const d = digests.segments.find((x) => x.label === seg.label);
          const piece = d?.hashed[0];
          if (d === undefined || piece === undefined) {
            t.fail(`${seg.label}: nothing hashed`);
            continue;
          }
          const pa = piece.start + piece.size / 2n;
          flip(s, pa);
          const before = reservationPastDumpParams(s);
          const out = s.panic({ observer: probeObserver });
          t.equal(out.rescued, false, `${seg.label}: not rescued`);
          t.equal(out.jump, undefined, `${seg.label}: rescue_kernel_exec did not run`);
          t.equal(out.observed, undefined);
          t.same(out.console, []);
          t.equal(out.armedAt, a.phase);
          const changed = out.changedSegments ?? [];
          t.equal(changed[0]?.label, seg.label, `${seg.label}: the segment is named`);
          t.equal(changed[0]?.firstDifferingByte, pa, `${seg.label}: and the byte`);
          t.not(changed[0]?.expected, changed[0]?.actual);
          if (strategy === 'kexec') {
            t.equal(changed.length, 2, `${seg.label}: and the kexec segment holding it`);
            t.ok(changed[1]?.label.includes(seg.label), `${changed[1]?.label ?? '?'} holds ${seg.label}`);
            t.equal(changed[1]?.firstDifferingByte, pa);
          } else {
            t.equal(changed.length, 1, `${seg.label}: only that segment`);
          }
          const range = formatRange({ start: seg.phys, size: size(seg.data.length) });
          t.match(
            out.reason ?? '',
            new RegExp(
              `^purgatory: segment ${esc(seg.label)} \\[${range}\\] changed since load \\(sha256 expected [0-9a-f]{16}… got [0-9a-f]{16}…, first changed byte at 0x${pa.toString(16)}\\)`,
            ),
            `${seg.label}: the reason`,
          );
          t.equal(s.machine.cpu.reg(pcReg), pc, `${seg.label}: the CPU did not move`);
          t.equal(reservationPastDumpParams(s), before, `${seg.label}: nothing was placed in the reservation`);
          t.equal(s.lastPanic, out);
          t.match(s.log[s.log.length - 1] ?? '', /^panic at running: not rescued \(purgatory: segment /);
          flip(s, pa); // restored: the next check passes this segment
        }

        if (strategy === 'kexec') {
          // the zero-filled tail of a loaded segment, outside every plan segment's bytes
          const last = loaded[loaded.length - 1];
          const piece = last?.hashed[last.hashed.length - 1];
          if (last !== undefined && piece !== undefined) {
            const pa = rangeEnd(piece) - 1n;
            t.notOk(
              staged.some((seg) => inside(pa, { start: seg.phys, size: size(seg.data.length) })),
              'a byte kexec_load zero-filled',
            );
            flip(s, pa);
            const out = s.panic({ observer: probeObserver });
            t.equal(out.rescued, false, 'a changed zero-fill byte refuses the jump');
            t.same(
              (out.changedSegments ?? []).map((c) => [c.label, c.firstDifferingByte]),
              [[last.label, pa]],
              'naming the kexec segment alone',
            );
            flip(s, pa);
          }
        }

        // writes the check does not care about: the dump params and the amd64 page-table pool
        // (rewritten at panic), a host page, the rescue kernel's free memory in the reservation
        const region = s.expected.region;
        const pool = a.plan.segments.find((seg) => seg.kind === 'page-tables');
        const elsewhere = [
          region.start + 8n,
          ...(pool === undefined ? [] : [pool.phys + 0x10n]),
          dumpParams(s.model).dpMsgbufpa + 0x10n,
          rangeEnd(region) - 1n,
        ];
        for (const pa of elsewhere) {
          t.notOk(isProtected(digests, phys(pa)), `0x${pa.toString(16)} is not checked`);
          flip(s, pa);
        }
        const out = s.panic({ observer: probeObserver });
        t.ok(out.rescued, 'the jump happens');
        t.equal(out.changedSegments, undefined);
        t.equal(out.reason, undefined);
        t.ok(out.observed?.report?.complete, 'the probe rescue kernel ran');
      } finally {
        s.close();
      }
      t.end();
    });
  }

  t.test(`${name}: unchanged, every strategy is rescued as before; digests are taken when armed`, { skip }, (t) => {
    for (const strategy of STRATEGY_IDS) {
      const s = HostSession.boot({ profile, strategy, rescue });
      try {
        s.advanceTo('SI_SUB_VM_CONF');
        const early = s.armed?.digests;
        t.equal(
          early !== undefined,
          strategy !== 'kexec',
          `${strategy}: recorded at SI_SUB_VM_CONF exactly when armed`,
        );
        s.advanceTo('running');
        if (strategy === 'kexec') {
          const load = s.loadCrash(rescue);
          t.ok(load.ok);
        } else {
          t.equal(s.armed?.digests, early, `${strategy}: not re-recorded later`);
        }
        const out = s.panic({ observer: probeObserver });
        t.ok(out.rescued, `${strategy}: rescued`);
        t.equal(out.changedSegments, undefined);
        t.ok(out.observed?.report?.complete, `${strategy}: the probe report is complete`);
      } finally {
        s.close();
      }
    }
    t.end();
  });
}

t.test('kexec: a reload re-stages and re-records; an unload drops the digests', { skip }, (t) => {
  const profile = loadProfile('amd64-efi');
  const rescue = rescueFor(profile);
  const s = armed(profile, 'kexec', rescue);
  try {
    const first = s.armed?.digests;
    const kernel = s.armed?.plan.segments.find((seg) => seg.kind === 'kernel');
    if (first === undefined || kernel === undefined) throw new Error('not armed');
    const pa = kernel.phys + 0x100n;
    flip(s, pa);
    t.ok(s.loadCrash(rescue).ok, 'reloaded');
    const second = s.armed?.digests;
    t.not(second, first, 'recorded again');
    t.same(
      second?.segments.map((d) => d.sha256),
      first.segments.map((d) => d.sha256),
      'the same kernel staged again hashes the same',
    );
    t.equal(s.machine.ram.read(phys(pa), 1)[0], kernel.data[0x100], 'the reload rewrote the changed byte');
    flip(s, pa);
    t.ok(s.loadCrash(rescue).ok, 'reloaded over a changed byte');
    t.ok(s.unloadCrash().ok, 'unloaded');
    t.equal(s.armed, undefined, 'no crash kernel, no digests');
    const out = s.panic();
    t.equal(out.rescued, false);
    t.equal(out.changedSegments, undefined, 'nothing to check: not a purgatory refusal');
    t.match(out.reason ?? '', /^no crash kernel loaded/);
    t.ok(s.loadCrash(rescue).ok, 'loaded again');
    const ok = s.panic();
    t.ok(ok.rescued, 'the reloaded kernel passes the check and the jump happens');
  } finally {
    s.close();
  }
  t.end();
});
