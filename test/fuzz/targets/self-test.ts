/**
 * Targets that test the fuzz runner itself (never run by default; `npm run fuzz -- --list`
 * shows them): one that lets a TypeError escape on inputs starting with 0x42, one that never
 * returns, one that fills the heap. The runner must report each (ESCAPE, HANG, CRASH), save
 * the input and exit 1.
 */
import { bytesTarget } from '../lib/build.js';
import { NotDecoded, type FuzzTarget } from '../lib/target.js';

const SEED = Uint8Array.of(1, 2, 3, 4);
const isSeed = (b: Uint8Array): boolean => b.length === SEED.length && b.every((x, i) => x === SEED[i]);
const meta = { group: 'elf' as const, errors: [NotDecoded], floor: 0, tapRuns: 0 };

export const selfTestEscape: FuzzTarget = bytesTarget({
  ...meta,
  name: 'self-test-escape',
  entry: 'runner self-test: a TypeError on inputs that start with 0x42',
  seeds: () => [SEED],
  decode: (b) => {
    if (b[0] === 0x42) throw new TypeError('self-test escape');
    if (!isSeed(b)) throw new NotDecoded('self-test rejection');
    return 1;
  },
});

export const selfTestHang: FuzzTarget = bytesTarget({
  ...meta,
  name: 'self-test-hang',
  entry: 'runner self-test: never returns on anything but its seed',
  seeds: () => [SEED],
  decode: (b) => {
    let spin = 0;
    while (!isSeed(b)) spin = (spin + 1) % 7;
    return spin;
  },
});

export const selfTestMemory: FuzzTarget = bytesTarget({
  ...meta,
  name: 'self-test-memory',
  entry: 'runner self-test: fills the heap on anything but its seed',
  seeds: () => [SEED],
  decode: (b) => {
    const keep: number[][] = [];
    while (!isSeed(b)) keep.push(new Array<number>(1 << 16).fill(keep.length));
    return keep.length;
  },
});

export const SELF_TEST_TARGETS: readonly FuzzTarget[] = [selfTestEscape, selfTestHang, selfTestMemory];
