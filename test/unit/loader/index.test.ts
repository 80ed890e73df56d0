// The public API: one import gives the whole pure pipeline, and it works end to end.
import t from 'tap';
import * as kboot from '../../../loader/index.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

t.test('the pipeline is reachable from the package entry point', (t) => {
  for (const name of [
    'parseElf',
    'writeElf',
    'lintRescueKernel',
    'loadProfile',
    'planRescue',
    'validatePlan',
    'encodeModinfo',
    'decodeKenv',
    'parseFdt',
    'encodeRescueParams',
    'phys',
    'KbootError',
  ]) {
    t.ok(name in kboot, `exports ${name}`);
  }
  const plan = kboot.planRescue({
    kernel: kboot.parseElf(makeRescueKernel('arm64')),
    kernelName: 'r',
    profile: kboot.loadProfile('arm64-fdt'),
  });
  t.equal(plan.arch, 'arm64');
  t.end();
});
