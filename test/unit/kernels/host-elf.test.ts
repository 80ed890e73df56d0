// The generated host kernel (kernels/host-elf.ts): deterministic for arch and seed, read back
// by kboot's ELF reader as a FreeBSD-layout exec with the image symbols; a copy kept for
// reuse never leaks a caller's change into the next caller's kernel.
import t from 'tap';
import { createHash } from 'node:crypto';
import { hostKernelElf, HOST_ELF } from '../../../kernels/host-elf.js';
import { parseElf } from '../../../loader/elf/reader.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

t.test('deterministic per arch and seed, different across them', (t) => {
  const a = hostKernelElf('amd64', 1);
  t.equal(sha(hostKernelElf('amd64', 1)), sha(a), 'same arch and seed, same bytes');
  t.equal(sha(hostKernelElf('amd64', 1n)), sha(a), 'a bigint seed is the same seed');
  t.not(sha(hostKernelElf('amd64', 2)), sha(a), 'another seed');
  t.not(sha(hostKernelElf('arm64', 1)), sha(a), 'another arch');
  const img = parseElf(a);
  t.equal(img.arch, 'amd64');
  t.equal(img.type, 'exec');
  t.same(
    img.loadSegments.map((p) => Number(p.memsz)),
    [HOST_ELF.text, HOST_ELF.data + HOST_ELF.bss],
  );
  t.end();
});

t.test('each caller gets its own copy: a change does not reach the next caller', (t) => {
  const first = hostKernelElf('arm64', 5);
  const clean = sha(first);
  first.fill(0xcc);
  const again = hostKernelElf('arm64', 5);
  t.equal(sha(again), clean, 'the kept kernel is unchanged');
  t.not(again, first, 'a different array');
  // more seeds than are kept, then the first again: regenerated, same bytes
  for (let seed = 100; seed < 110; seed++) hostKernelElf('arm64', seed);
  t.equal(sha(hostKernelElf('arm64', 5)), clean, 'regenerated after being dropped');
  t.end();
});
