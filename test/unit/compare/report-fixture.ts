/**
 * A hand-made comparison report (the shape runCompare returns) for tests of the table, the
 * SVG and the schema that need no emulated machine: embed and KLD armed from SI_SUB_VM_CONF,
 * kexec from init; numbers of the size a probe kernel gives on amd64-efi.
 */
import type { CompareReport, FaultResult, StrategyComparison } from '../../../compare/index.js';
import { HOST_PHASES, type HostPhase } from '../../../machine/host/timeline.js';
import type { StrategyId } from '../../../loader/strategy.js';

const from: { readonly [S in StrategyId]: HostPhase } = {
  embed: 'SI_SUB_VM_CONF',
  kld: 'SI_SUB_VM_CONF',
  kexec: 'init',
};

function faults(arch: 'amd64' | 'arm64'): FaultResult[] {
  return [
    { fault: 'dma', outcome: 'survived', detail: 'dump good; the NIC wrote 16 host pages' },
    arch === 'arm64'
      ? { fault: 'its', outcome: 'survived', detail: 'the ITS wrote 6 pages' }
      : { fault: 'its', outcome: 'n/a', detail: 'no GICv3 ITS' },
    { fault: 'corrupt-segment', outcome: 'detected', detail: 'purgatory refused the jump' },
    { fault: 'stray-write', outcome: 'detected', detail: 'stopped by write protection' },
  ];
}

function strategy(s: StrategyId, arch: 'amd64' | 'arm64'): StrategyComparison {
  const first = HOST_PHASES.indexOf(from[s]);
  const phases = HOST_PHASES.map((phase, i) => ({
    phase,
    rescued: i >= first,
    reason: i >= first ? null : 'nothing is armed yet',
    instructions: i >= first ? 3 : null,
  }));
  const f = faults(arch);
  return {
    strategy: s,
    armedFrom: from[s],
    armedHow: s === 'kexec' ? 'kexec_load (linux ABI, 2 segments)' : 'rescue_kernel_init',
    userspaceOnly: s === 'kexec',
    rescuedShare: Math.round(((HOST_PHASES.length - first) / HOST_PHASES.length) * 1000) / 1000,
    phases,
    memory: {
      reservedBytes: 136_331_264,
      transientBytes: s === 'kexec' ? 17_000 : 16_384,
      transient: s === 'embed' ? 'the embedded copy' : s === 'kld' ? 'the module' : 'the userspace buffer',
      kernelImageGrowth: s === 'embed' ? 12_864 : null,
      kernelFileGrowth: s === 'embed' ? 144_000 : null,
    },
    copies: {
      bootBytes: s === 'kexec' ? 0 : 26_610,
      boot: s === 'kexec' ? 'nothing' : 'loader + rescue_kernel_init',
      loadBytes: s === 'kexec' ? 17_000 : 0,
      panicBytes: 0,
      panicTableBytes: 57_344,
    },
    jump: {
      rescued: true,
      stop: 'reached',
      instructions: 3,
      ms: 140.2,
      panicMs: 230.5,
      probe: { stop: 'halted', instructions: 5000, complete: true, checksumOk: true },
    },
    dump: { status: 'good', format: 'minidump', size: 82_513_920, pages: 18_008, bytesOut: 82_513_920, ms: 400 },
    replace:
      s === 'kexec'
        ? { withoutReboot: true, needs: 'nothing', done: true, rescuedAfter: true, how: 'unload + load', ms: 9 }
        : {
            withoutReboot: false,
            needs: s === 'embed' ? 'rebuild' : 'reboot',
            done: false,
            rescuedAfter: null,
            how: s === 'embed' ? 'rebuild' : 'reboot',
            ms: 300,
          },
    faults: f,
    faultsHandled: f.filter((x) => x.outcome === 'survived' || x.outcome === 'detected').length,
    faultsApplicable: f.filter((x) => x.outcome !== 'n/a').length,
    its:
      arch === 'arm64'
        ? {
            outcome: 'passed',
            baseline: {
              mode: 'none',
              outcome: 'panic',
              panic: 'gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved',
            },
            kboot: { mode: 'fdt', outcome: 'reuse-ok', panic: null },
            detail: 'none: panic "gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved"; fdt: reuse-ok',
          }
        : { outcome: 'n/a', baseline: null, kboot: null, detail: 'amd64-efi has no live LPI tables' },
  };
}

/** A report for `file` on one profile of `arch`. */
export function sampleReport(file = 'rescue.elf', arch: 'amd64' | 'arm64' = 'amd64'): CompareReport {
  const machine = arch === 'amd64' ? 'amd64-efi' : 'arm64-fdt';
  return {
    kernel: { file, arch, size: 12_864, sha256: 'a'.repeat(64), probe: true },
    seed: 1,
    phases: [...HOST_PHASES],
    userspaceFrom: 'init',
    strategies: ['embed', 'kld', 'kexec'],
    faultSet: ['dma', 'its', 'corrupt-segment', 'stray-write'],
    profiles: [
      {
        machine,
        source: `builtin:${machine}`,
        arch,
        reservation: { start: '0x77400000', size: 136_331_264 },
        sessions: 33,
        elapsedMs: 14_800,
        dump: { format: 'minidump', size: 82_513_920, pages: 18_008, ms: 400 },
        strategies: (['embed', 'kld', 'kexec'] as const).map((s) => strategy(s, arch)),
      },
    ],
    elapsedMs: 14_900,
  };
}
