/**
 * `kboot plan --crash KERNEL --machine PROFILE [--memsize N] [--place P]` without the CLI:
 * parseElf of the kernel, parseProfile of the profile, then planRescue and the plan's report.
 * The kernel or the profile (or both) is mutated; each input may raise its own domain's
 * error (ElfError, ConfigError) and the planner its own (PlanError), nothing else — an
 * image or a profile the parsers accept must not break the planner. Seeds: rescue and probe
 * kernels from kboot's writers with the built-in profile of their arch.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import type { Size } from '../../../loader/addr.js';
import { ElfError, parseElf } from '../../../loader/elf/index.js';
import { ConfigError, PlanError } from '../../../loader/errors.js';
import { packagePath } from '../../../loader/paths.js';
import { parseProfile } from '../../../loader/plan/profile.js';
import { planRescue } from '../../../loader/plan/rescue-plan.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { planReport } from '../../../cli/actions/plan.js';
import { makeRescueKernel } from '../../helpers/kernels.js';
import { bytesCase, bytesTarget, packParts, unpackParts } from '../lib/build.js';
import { mutatedJson, mutatedText } from '../lib/mutate.js';
import type { FuzzCase, FuzzTarget } from '../lib/target.js';
import { elfFields } from './elf.js';

interface PlanInput {
  readonly kernel: Uint8Array;
  readonly profile: string;
  readonly memsize?: string;
  readonly prefer?: 'highest' | 'lowest';
}

function decodePlan(i: PlanInput): unknown {
  const image = parseElf(i.kernel);
  const profile = parseProfile(i.profile, 'fuzz.json');
  const memsize = i.memsize === undefined ? undefined : (BigInt(i.memsize) as Size);
  const plan = planRescue({
    kernel: image,
    kernelName: 'rescue.elf',
    profile,
    ...(memsize === undefined ? {} : { memsize }),
    ...(i.prefer === undefined ? {} : { prefer: i.prefer }),
  });
  JSON.stringify(planReport(plan));
  return { segments: plan.segments.length, entry: plan.entry };
}

function planCase(i: PlanInput): FuzzCase {
  const meta = { memsize: i.memsize, prefer: i.prefer };
  return bytesCase(packParts(meta, [i.kernel, new TextEncoder().encode(i.profile)]), () => decodePlan(i));
}

const profileText = (name: string): string => readFileSync(packagePath('profiles', `${name}.json`), 'utf8');

export const planTarget: FuzzTarget = {
  name: 'plan',
  group: 'elf',
  entry: 'parseElf + parseProfile + planRescue + planReport (kboot plan --crash)',
  errors: [ElfError, ConfigError, PlanError],
  floor: 0.035,
  tapRuns: 3000,
  prepare() {
    const kernels = [
      makeRescueKernel('amd64'),
      makeRescueKernel('arm64'),
      buildProbeKernel('amd64'),
      buildProbeKernel('arm64'),
    ];
    const profiles = ['amd64-efi', 'arm64-fdt', 'amd64-bios', 'arm64-acpi'].map(profileText);
    const pairs = kernels.map((k, i) => ({ kernel: k, profile: profiles[i % 2] ?? '' }));
    const inner = bytesTarget({
      ...planTarget,
      seeds: () => kernels,
      decode: () => undefined,
      fields: elfFields,
    }).prepare();
    const goodKernel = fc.constantFrom(...kernels);
    const goodProfile = fc.constantFrom(...profiles);
    const badKernel = inner.arbitrary.map((c) => c.bytes);
    const badProfile = fc.oneof(mutatedJson(profiles), mutatedText(profiles));
    const options = fc.record(
      {
        memsize: fc.constantFrom('0', '0x1000', '0x8000000', '0x40000000', '0x10000000000', '0xffffffffffffffff'),
        prefer: fc.constantFrom('highest' as const, 'lowest' as const),
      },
      { requiredKeys: [] },
    );
    const arbitrary = fc
      .tuple(
        fc.oneof(
          { weight: 4, arbitrary: fc.tuple(badKernel, goodProfile) },
          { weight: 4, arbitrary: fc.tuple(goodKernel, badProfile) },
          { weight: 1, arbitrary: fc.tuple(badKernel, badProfile) },
          { weight: 2, arbitrary: fc.tuple(goodKernel, goodProfile) },
        ),
        options,
      )
      .map(([[kernel, profile], o]) => planCase({ kernel, profile, ...o }));
    return {
      seeds: pairs.map(planCase),
      arbitrary,
      fromBytes: (b) => {
        const { meta, parts } = unpackParts(b);
        const m = (typeof meta === 'object' && meta !== null ? meta : {}) as Partial<PlanInput>;
        return planCase({
          kernel: parts[0] ?? new Uint8Array(0),
          profile: new TextDecoder().decode(parts[1] ?? new Uint8Array(0)),
          ...(m.memsize === undefined ? {} : { memsize: m.memsize }),
          ...(m.prefer === undefined ? {} : { prefer: m.prefer }),
        });
      },
    };
  },
};
