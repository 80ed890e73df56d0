// kenv: hand-computed block, empty environment, round trips, the rescue ordering, one
// mutation per error code.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import {
  decodeKenv,
  encodeKenv,
  encodeRescueKenv,
  KENV_MAX_ENTRY_BYTES,
  rescueKenv,
  type KenvEntry,
} from '../../../../loader/handoff/kenv.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

const ENV: KenvEntry[] = [
  ['a', '1'],
  ['boot_verbose', 'YES'],
];
// Computed by hand (md_copyenv, stand/common/modinfo.c): "a=1" NUL "boot_verbose=YES" NUL, then the final NUL.
const ENV_BYTES = '61 3d 31 00 | 62 6f 6f 74 5f 76 65 72 62 6f 73 65 3d 59 45 53 00 | 00';

t.test('hand-computed block and the empty environment', (t) => {
  t.equal(toHex(encodeKenv(ENV)), toHex(fromHex(ENV_BYTES)));
  t.same(decodeKenv(fromHex(ENV_BYTES)), ENV);
  t.equal(toHex(encodeKenv([])), '00', 'md_copyenv writes one NUL for an empty environment');
  t.same(decodeKenv(fromHex('00')), []);
  t.same(decodeKenv(fromHex(`${ENV_BYTES} ee ee`)), ENV, 'bytes after the terminator are ignored');
  t.same(decodeKenv(encodeKenv([['x', '']])), [['x', '']], 'an empty value is fine');
  t.same(decodeKenv(encodeKenv([['x', 'a=b=c']])), [['x', 'a=b=c']], "'=' in a value is fine");
  t.end();
});

const nameArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,30}$/);
const valueArb = fc.string({ maxLength: 60 });
const entryArb = fc.tuple(nameArb, valueArb);

t.test('round trip (property)', (t) => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 20 }), (entries) => {
      const bytes = encodeKenv(entries);
      assert.equal(bytes[bytes.length - 1], 0);
      assert.deepStrictEqual(
        decodeKenv(bytes),
        entries.map(([n, v]) => [n, v]),
      );
    }),
    { numRuns: 300 },
  );
  t.pass('300 random environments survive the round trip');
  t.end();
});

t.test('rescue ordering (rescue_kernel_init)', (t) => {
  const host: KenvEntry[] = [
    ['hw.physmem', '8G'],
    ['debug.rescue_minidump', '1'],
    ['debug.rescue.hw.physmem', '128M'],
    ['kern.hz', '100'],
    ['debug.rescue.vfs.root.mountfrom', 'ufs:/dev/md0'],
    ['debug.rescue_memsize', '256M'],
  ];
  t.same(rescueKenv(host), [
    ['kern.smp.disabled', '1'],
    ['hw.physmem', '128M'],
    ['vfs.root.mountfrom', 'ufs:/dev/md0'],
    ['hw.physmem', '8G'],
    ['debug.rescue_minidump', '1'], // kept: the code filters only "debug.rescue." (with the dot)
    ['kern.hz', '100'],
    ['debug.rescue_memsize', '256M'],
  ]);
  t.same(rescueKenv([]), [['kern.smp.disabled', '1']]);
  t.equal(
    new TextDecoder().decode(encodeRescueKenv([['debug.rescue.x', 'y']])),
    'kern.smp.disabled=1\0x=y\0\0',
    'kp_kenvlen counts the final NUL',
  );
  t.same(
    rescueKenv([['debug.rescue.', 'v']]),
    [
      ['kern.smp.disabled', '1'],
      ['', 'v'],
    ],
    'bare prefix: empty name',
  );
  throwsCode(
    t,
    () => encodeRescueKenv([['debug.rescue.', 'v']]),
    HandoffCode.KenvBadEntry,
    '…which encodeKenv refuses',
  );

  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.oneof(
            nameArb,
            nameArb.map((n) => `debug.rescue.${n}`),
          ),
          valueArb,
        ),
      ),
      (h) => {
        const out = rescueKenv(h);
        assert.equal(out.length, h.length + 1);
        assert.deepStrictEqual(out[0], ['kern.smp.disabled', '1']);
        const pre = h.filter(([n]) => n.startsWith('debug.rescue.'));
        assert.deepStrictEqual(
          out.slice(1, 1 + pre.length),
          pre.map(([n, v]) => [n.slice('debug.rescue.'.length), v]),
        );
        assert.deepStrictEqual(
          out.slice(1 + pre.length),
          h.filter(([n]) => !n.startsWith('debug.rescue.')).map(([n, v]) => [n, v]),
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass('ordering holds for 200 random host environments');
  t.end();
});

t.test('one mutation per error code', (t) => {
  const good = fromHex(ENV_BYTES);
  const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
    const b = good.slice();
    f(b);
    return b;
  };
  throwsCode(t, () => decodeKenv(mutate((b) => (b[1] = 0x78))), HandoffCode.KenvBadEntry, "entry without '='");
  throwsCode(t, () => decodeKenv(mutate((b) => (b[0] = 0x3d))), HandoffCode.KenvBadEntry, 'entry with an empty name');
  throwsCode(t, () => decodeKenv(good.subarray(0, good.length - 1)), HandoffCode.KenvNoTerminator, 'final NUL dropped');
  throwsCode(t, () => decodeKenv(new Uint8Array()), HandoffCode.KenvNoTerminator, 'no bytes at all');
  throwsCode(t, () => decodeKenv(good, { maxEntries: 1 }), HandoffCode.KenvTooLarge, 'more entries than allowed');
  throwsCode(t, () => decodeKenv(good, { maxBytes: 8 }), HandoffCode.KenvTooLarge, 'no terminator within maxBytes');
  throwsCode(t, () => encodeKenv([['', 'x']]), HandoffCode.KenvBadEntry, 'empty name');
  throwsCode(t, () => encodeKenv([['a=b', 'x']]), HandoffCode.KenvBadEntry, "'=' in a name");
  throwsCode(t, () => encodeKenv([['a\0', 'x']]), HandoffCode.KenvBadEntry, 'NUL in a name');
  throwsCode(t, () => encodeKenv([['a', 'x\0y']]), HandoffCode.KenvBadEntry, 'NUL in a value');
  // init_dynamic_kenv_from keeps strlen + 1 <= 258
  t.doesNotThrow(() => encodeKenv([['n', 'v'.repeat(KENV_MAX_ENTRY_BYTES - 3)]]), 'n=vvv…: 257 chars + NUL is kept');
  throwsCode(
    t,
    () => encodeKenv([['n', 'v'.repeat(KENV_MAX_ENTRY_BYTES - 2)]]),
    HandoffCode.KenvTooLarge,
    '258 chars + NUL is dropped by the kernel',
  );
  t.end();
});
