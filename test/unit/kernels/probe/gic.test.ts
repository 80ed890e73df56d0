// The probe's GIC check (`kboot probe-kernel --gic`, kernels/probe/arm64-gic.ts) without a
// machine: the build option's checks, the report fields' decoding, and the verdict's FreeBSD
// messages (rescue/its-check.ts probeItsVerdict; sys/arm64/arm64/gicv3_its.c panic strings).
// The code itself runs on the emulated CPU in test/e2e/its-probe.test.ts.
import t from 'tap';
import { archInfo } from '../../../../loader/arch/index.js';
import {
  buildProbeKernel,
  decodeProbeReport,
  encodeProbeReport,
  ProbeCode,
  PROBE_FLAGS_ALL,
  PROBE_GICR_DEFAULT,
  PROBE_ITS_EXCLUDED,
  PROBE_ITS_FIELDS_ZERO,
  PROBE_ITS_OUTCOME,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_VERSION,
  ProbeReportLayout,
  type ProbeReportValues,
} from '../../../../kernels/probe/index.js';
import { probeItsVerdict } from '../../../../rescue/its-check.js';
import { throwsCode } from '../../../helpers/errors.js';

t.test('--gic: arm64 rescue mode only, a 64 KiB-aligned PA below 2^48; changes the code', (t) => {
  throwsCode(t, () => buildProbeKernel('amd64', { gicr: PROBE_GICR_DEFAULT }), ProbeCode.BadOption, 'amd64');
  throwsCode(
    t,
    () => buildProbeKernel('arm64', { mode: 'kexec', gicr: PROBE_GICR_DEFAULT }),
    ProbeCode.BadOption,
    'kexec mode',
  );
  throwsCode(t, () => buildProbeKernel('arm64', { gicr: 0x080a_1000n }), ProbeCode.BadOption, 'unaligned');
  throwsCode(t, () => buildProbeKernel('arm64', { gicr: 1n << 48n }), ProbeCode.BadOption, 'past 48 bits');
  throwsCode(t, () => buildProbeKernel('arm64', { gicr: 0n }), ProbeCode.BadOption, 'zero');
  const plain = buildProbeKernel('arm64');
  const gic = buildProbeKernel('arm64', { gicr: PROBE_GICR_DEFAULT });
  t.notOk(Buffer.from(gic).equals(Buffer.from(plain)), 'the GIC check adds code');
  t.same(buildProbeKernel('arm64', { gicr: PROBE_GICR_DEFAULT }), gic, 'deterministic');
  t.not(Buffer.from(buildProbeKernel('arm64', { gicr: 0x4008_0000n })).equals(Buffer.from(gic)), 'address built in');
  t.end();
});

function report(gic: Partial<ProbeReportValues>): Uint8Array {
  return encodeProbeReport({
    ...PROBE_ITS_FIELDS_ZERO,
    magic: PROBE_MAGIC,
    version: PROBE_VERSION,
    machine: archInfo('arm64').elfMachine,
    flags: PROBE_FLAGS_ALL,
    mode: PROBE_MODE_VALUE.rescue,
    entryPc: 0n,
    gpr: Array.from({ length: 32 }, () => 0n),
    sys: Array.from({ length: 8 }, () => 0n),
    ptRoot: 0n,
    bootArgs: [0n, 0n],
    handoffAddr: 0n,
    handoff: new Uint8Array(64),
    checksum: 0n,
    checksumStart: 0n,
    checksumEnd: 0n,
    uartBase: 0n,
    firmwareKind: 0,
    paramsLen: 0,
    kenvLen: 0,
    firmwareLen: 0,
    kenvAddr: 0n,
    firmwareAddr: 0n,
    params: new Uint8Array(ProbeReportLayout.fields.find((f) => f.name === 'params')?.size ?? 0),
    kenv: new Uint8Array(256),
    firmware: new Uint8Array(256),
    ...gic,
  });
}

t.test('the report: no gic without --gic; the fields decoded; unknown outcome or bit is PROBE_BAD_FIELD', (t) => {
  t.equal(decodeProbeReport(report({})).gic, undefined, 'built without --gic');
  const r = decodeProbeReport(
    report({
      gicrBase: 0x080a_0000n,
      gicCtlr: 1,
      itsOutcome: PROBE_ITS_OUTCOME['pendbaser-not-reserved'],
      propbaser: 0x23ff0_0000n | 0x78fn,
      pendbaser0: 0x23ff1_0000n | 0x4000_0000_0000_0000n,
      itsChecked: 3,
      itsFailCpu: 2,
      itsFailAddr: 0x23ff3_0000n,
      fwHandle: 0x1234_5000n,
      itsExcludedBy: PROBE_ITS_EXCLUDED.memreserve,
    }),
  );
  t.match(r.gic, { outcome: 'pendbaser-not-reserved', checked: 3, failCpu: 2, excludedBy: ['memreserve'] });
  throwsCode(
    t,
    () => decodeProbeReport(report({ gicrBase: 0x080a_0000n, itsOutcome: 6 })),
    ProbeCode.BadField,
    'outcome 6',
  );
  throwsCode(
    t,
    () => decodeProbeReport(report({ gicrBase: 0x080a_0000n, itsExcludedBy: 4 })),
    ProbeCode.BadField,
    'excluded-by bit 2',
  );
  const its = r.gic === undefined ? undefined : probeItsVerdict(r.gic);
  t.equal(its?.outcome, 'panic');
  t.equal(
    its?.panic,
    'gicv3 PENDBASER on cpu 2 needs to reuse 0x0x23ff30000, but not reserved',
    'gicv3_its.c, %#lx twice',
  );
  t.equal(its?.address, 0x23ff3_0000n);
  t.same(
    its?.tables.map((x) => x.pa),
    [0x23ff0_0000n, 0x23ff1_0000n],
    'PROPBASER and CPU 0 PENDBASER, PA fields only',
  );
  t.equal(its?.fwHandle, 0x1234_5000n);
  const verdict = (outcome: keyof typeof PROBE_ITS_OUTCOME): string | undefined => {
    const g = decodeProbeReport(
      report({ gicrBase: 0x080a_0000n, itsOutcome: PROBE_ITS_OUTCOME[outcome], itsFailAddr: 0x23ff0_0000n }),
    ).gic;
    const v = g === undefined ? undefined : probeItsVerdict(g);
    return v === undefined ? undefined : `${v.outcome} ${v.panic ?? ''}`;
  };
  t.equal(verdict('propbaser-not-reserved'), 'panic gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved');
  t.equal(verdict('propbaser-not-mapped'), 'panic Cannot map prior LPI mapping into KVA');
  t.equal(verdict('reuse-ok'), 'reuse-ok ');
  t.equal(verdict('lpis-off'), 'lpis-off ');
  t.equal(verdict('not-checked'), 'undecodable ');
  t.end();
});
