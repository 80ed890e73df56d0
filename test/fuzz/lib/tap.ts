/**
 * The tap side of the fuzz registry: each test/fuzz/<group>.test.ts runs its group's targets
 * at their `tapRuns` count under the same contract and floors as `npm run fuzz`. The seed is
 * random (KBOOT_FUZZ_SEED fixes it) and printed, so a failure replays with
 * `npm run fuzz -- --target NAME --runs N --seed S`.
 */
import t from 'tap';
import { randomInt } from 'node:crypto';
import { nativeAvailable } from '../../../native/binding.js';
import { targetsOf } from '../registry.js';
import { runTarget } from './engine.js';
import type { FuzzGroup } from './target.js';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

export function fuzzGroup(group: FuzzGroup): void {
  const fixed = process.env['KBOOT_FUZZ_SEED'];
  for (const target of targetsOf(group)) {
    const skip = target.native === true && !nativeAvailable() ? { skip: 'the native addon is not built' } : {};
    t.test(`${target.name}: ${target.entry}`, skip, (t) => {
      const seed = fixed === undefined ? randomInt(0, 0x7fff_ffff) : Number(fixed);
      const r = runTarget(target, { runs: target.tapRuns, seed });
      const again = `npm run fuzz -- --target ${target.name} --runs ${target.tapRuns} --seed ${seed}`;
      const e = r.firstEscape;
      t.equal(
        r.escapes,
        0,
        e === undefined
          ? `only ${target.errors.map((c) => c.name).join('/')} escaped ${r.runs} inputs`
          : `${e.kind} at run ${e.index}: ${e.shrunkError ?? e.error} (${again})`,
      );
      t.ok(r.floorMet, `decoded ${r.decoded}/${r.runs} (${pct(r.share)}), floor ${pct(target.floor)} (${again})`);
      t.end();
    });
  }
}
