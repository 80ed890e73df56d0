// machine/observer.ts: the machine knows nothing of probe kernels — no file under machine/
// imports kernels/probe; what a kernel does after the entry is read by an observer from
// outside (rescue/probe-observer.ts), which recognises probe kernels only.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../../../loader/paths.js';
import { parseElf } from '../../../loader/elf/reader.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { isProbeKernel, probeObserver } from '../../../rescue/probe-observer.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('no file under machine/ imports kernels/probe', (t) => {
  const root = packageRoot();
  const files = sources(join(root, 'machine'));
  t.ok(files.length > 20, `${files.length} files`);
  for (const f of files) {
    t.notMatch(readFileSync(f, 'utf8'), /kernels\/probe/, relative(root, f));
  }
  t.end();
});

t.test('the probe observer recognises probe kernels only', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    t.ok(isProbeKernel(parseElf(buildProbeKernel(arch, { mode: 'rescue' }))), `${arch} probe`);
    t.notOk(probeObserver.recognises(parseElf(makeRescueKernel(arch))), `${arch} foreign kernel`);
  }
  t.equal(probeObserver.name, 'probe', 'its trace step, as `kboot exec --trace` prints it');
  t.end();
});
