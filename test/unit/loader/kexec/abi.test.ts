// The kexec ABIs: struct kexec_segment layouts, flags, arch values, errno numbers, and the
// segment-array encoder/decoder. Independent check: a C program compiled here with gcc
// against this machine's <linux/kexec.h> and <errno.h> prints sizeof/offsetof of
// struct kexec_segment, the KEXEC_* constants and the errno numbers, which must equal kboot's
// (skipped only when gcc or the Linux headers are not installed; under CI=true that fails). FreeBSD's numbers have no
// header on this machine: the table holds the values read in sys/sys/errno.h (BSD numbering,
// EADDRNOTAVAIL 49), and the test below pins that only EADDRNOTAVAIL differs.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeKexecSegments,
  encodeKexecSegments,
  ERRNO,
  FREEBSD_KEXEC,
  FreeBsdKexecSegment,
  KexecCode,
  KexecError,
  KEXEC_ABIS,
  LINUX_KEXEC,
  LINUX_KEXEC_ARCH,
  LinuxKexecSegment,
} from '../../../../loader/kexec/index.js';
import { archInfo } from '../../../../loader/arch/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { requireTool } from '../../../helpers/tools.js';

t.test('layouts: four u64 fields, 32 bytes, in both ABIs', (t) => {
  for (const l of [LinuxKexecSegment, FreeBsdKexecSegment]) {
    t.equal(l.size, 32);
    t.same(l.offsets, { buf: 0, bufsz: 8, mem: 16, memsz: 24 });
  }
  t.end();
});

t.test('arch values are the ELF machine numbers shifted left by 16', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    t.equal(LINUX_KEXEC_ARCH[arch], BigInt(archInfo(arch).elfMachine) << 16n, arch);
  }
  t.end();
});

t.test('errno numbers: only EADDRNOTAVAIL differs (Linux 99, FreeBSD 49)', (t) => {
  for (const k of Object.keys(ERRNO.linux) as (keyof typeof ERRNO.linux)[]) {
    if (k === 'EADDRNOTAVAIL') continue;
    t.equal(ERRNO.linux[k], ERRNO.freebsd[k], k);
  }
  t.equal(ERRNO.linux.EADDRNOTAVAIL, 99);
  t.equal(ERRNO.freebsd.EADDRNOTAVAIL, 49);
  t.equal(FREEBSD_KEXEC.SEGMENT_MAX, LINUX_KEXEC.SEGMENT_MAX);
  t.end();
});

t.test('encode/decode round trip; a short array is EFAULT (copy-in)', (t) => {
  const segs = [
    { buf: 0x7fff_0000_1000n, bufsz: 0x1234n, mem: 0x4000_0000n, memsz: 0x2000n },
    { buf: (1n << 64n) - 1n, bufsz: 0n, mem: 0n, memsz: 0x1000n },
  ];
  for (const abi of KEXEC_ABIS) {
    const bytes = encodeKexecSegments(abi, segs);
    t.equal(bytes.length, 64);
    t.same(decodeKexecSegments(abi, bytes, 2), segs, abi);
    const e = throwsCode(t, () => decodeKexecSegments(abi, bytes.subarray(0, 40), 2), KexecCode.EFAULT);
    t.ok(e instanceof KexecError);
    t.equal((e as KexecError | undefined)?.errnoNumber, 14);
    t.equal((e as KexecError | undefined)?.rule, 'copy-in');
  }
  t.end();
});

t.test("gcc + <linux/kexec.h>: kboot's Linux ABI matches the C headers", requireTool('gcc', 'linux/kexec.h'), (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-kexec-abi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const src = join(dir, 'abi.c');
  writeFileSync(
    src,
    `#include <stdio.h>
#include <stddef.h>
#include <errno.h>
#include <linux/kexec.h>
int main(void) {
  printf("size %zu\\n", sizeof(struct kexec_segment));
  printf("buf %zu\\nbufsz %zu\\nmem %zu\\nmemsz %zu\\n", offsetof(struct kexec_segment, buf),
    offsetof(struct kexec_segment, bufsz), offsetof(struct kexec_segment, mem), offsetof(struct kexec_segment, memsz));
  printf("ON_CRASH %lu\\nPRESERVE_CONTEXT %lu\\nARCH_MASK %lu\\nARCH_DEFAULT %lu\\n", (unsigned long)KEXEC_ON_CRASH,
    (unsigned long)KEXEC_PRESERVE_CONTEXT, (unsigned long)KEXEC_ARCH_MASK, (unsigned long)KEXEC_ARCH_DEFAULT);
  printf("ARCH_X86_64 %lu\\nARCH_AARCH64 %lu\\nSEGMENT_MAX %d\\n", (unsigned long)KEXEC_ARCH_X86_64,
    (unsigned long)KEXEC_ARCH_AARCH64, KEXEC_SEGMENT_MAX);
  printf("EPERM %d\\nENOMEM %d\\nEFAULT %d\\nEBUSY %d\\nEINVAL %d\\nEADDRNOTAVAIL %d\\n", EPERM, ENOMEM, EFAULT, EBUSY,
    EINVAL, EADDRNOTAVAIL);
  return 0;
}
`,
  );
  const exe = join(dir, 'abi');
  execFileSync('gcc', ['-o', exe, src]);
  const facts = new Map(
    execFileSync(exe, { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => {
        const [k, v] = l.split(' ');
        return [k ?? '', BigInt(v ?? '-1')] as const;
      }),
  );
  t.equal(facts.get('size'), BigInt(LinuxKexecSegment.size), 'sizeof(struct kexec_segment)');
  for (const f of ['buf', 'bufsz', 'mem', 'memsz'] as const) {
    t.equal(facts.get(f), BigInt(LinuxKexecSegment.offsets[f]), `offsetof ${f}`);
  }
  for (const k of [
    'ON_CRASH',
    'PRESERVE_CONTEXT',
    'ARCH_MASK',
    'ARCH_DEFAULT',
    'ARCH_X86_64',
    'ARCH_AARCH64',
  ] as const) {
    t.equal(facts.get(k), LINUX_KEXEC[k], `KEXEC_${k}`);
  }
  t.equal(facts.get('SEGMENT_MAX'), BigInt(LINUX_KEXEC.SEGMENT_MAX), 'KEXEC_SEGMENT_MAX');
  for (const k of Object.keys(ERRNO.linux) as (keyof typeof ERRNO.linux)[]) {
    t.equal(facts.get(k), BigInt(ERRNO.linux[k]), k);
  }
  t.end();
});
