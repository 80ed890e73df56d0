// dump/source.ts: a dump's readPhys over guest RAM is a zero-copy view inside one region (it
// shows later guest writes, so no copy was made) and a correct copy across two adjacent
// regions (where a view cannot exist: ArrayRam.view refuses to cross a region boundary).
import t from 'tap';
import { phys, size } from '../../../loader/addr.js';
import { ArrayRam } from '../../../loader/memory/guest-ram.js';
import { guestMemoryReader } from '../../../dump/source.js';

t.test('view inside a region, copy across regions', (t) => {
  const ram = new ArrayRam([
    { base: phys(0), size: size(0x2000) },
    { base: phys(0x2000), size: size(0x2000) },
  ]);
  ram.write(
    phys(0),
    Uint8Array.from({ length: 0x4000 }, (_, i) => i & 0xff),
  );
  const read = guestMemoryReader(ram);
  const inside = read(0x1000n, 0x1000);
  ram.write(phys(0x1000), Uint8Array.of(0xee));
  t.equal(inside[0], 0xee, 'inside one region: a live view, not a copy');
  const across = read(0x1ff0n, 0x20);
  t.same([...across], [...ram.read(phys(0x1ff0), 0x20)], 'across two regions: the right bytes');
  t.end();
});
