// kexecLoad: one test per rule of each ABI (a good request or state with ONE field changed,
// asserting the errno name, that ABI's errno number and the rule), the order of the rules (a
// request breaking two rules gets the first one's error), reload, unload, and Linux's
// "a failed crash reload leaves no crash kernel loaded".
import t, { type Test } from 'tap';
import type { PhysAddr, PhysRange, Size } from '../../../../loader/addr.js';
import {
  applyKexecLoad,
  ERRNO,
  KexecCode,
  KexecError,
  kexecLoad,
  kexecUnload,
  LINUX_KEXEC,
  type KexecAbi,
  type KexecErrno,
  type KexecOutcome,
  type KexecRequest,
  type KexecSegmentRequest,
  type KexecState,
} from '../../../../loader/kexec/index.js';
import { kexecLoadSteps } from '../../../../loader/kexec/rules.js';

const MiB = 1n << 20n;
const GiB = 1n << 30n;
const range = (start: bigint, size: bigint): PhysRange => ({ start: start as PhysAddr, size: size as Size });

/** Two vm_phys_segs / RAM ranges: [4 KiB, 636 KiB) and [1 MiB, 2 GiB). */
const RAM: readonly PhysRange[] = [range(0x1000n, 0x9_f000n - 0x1000n), range(MiB, 2n * GiB - MiB)];
const CRASH = range(GiB, 256n * MiB);

function state(abi: KexecAbi, extra: Partial<KexecState> = {}): KexecState {
  return {
    abi,
    arch: 'amd64',
    userspaceReached: true,
    physSegs: RAM,
    loaded: {},
    ...(abi === 'linux' ? { crashReservation: CRASH } : {}),
    ...extra,
  };
}

const seg = (mem: bigint, memsz: bigint, bufsz: bigint = memsz, fill = 0xa5): KexecSegmentRequest => ({
  buf: new Uint8Array(Number(bufsz)).fill(fill),
  bufsz,
  mem,
  memsz,
});

/** A good crash request for Linux; for FreeBSD the same segments with flags 0 (no crash images there). */
function request(abi: KexecAbi, extra: Partial<KexecRequest> = {}): KexecRequest {
  return {
    entry: GiB + 2n * MiB + 0x1000n,
    flags: abi === 'linux' ? LINUX_KEXEC.ON_CRASH | LINUX_KEXEC.ARCH_X86_64 : 0n,
    segments: [seg(GiB, 0x2000n, 0x1800n, 1), seg(GiB + 2n * MiB, MiB, 0x8000n, 2)],
    ...extra,
  };
}

/** A good normal (non-crash) request. */
const normal = (abi: KexecAbi, extra: Partial<KexecRequest> = {}): KexecRequest =>
  request(abi, { flags: abi === 'linux' ? LINUX_KEXEC.ARCH_X86_64 : 0n, ...extra });

function refused(
  t: Test,
  r: KexecOutcome,
  abi: KexecAbi,
  errno: KexecErrno,
  rule: string,
  msg?: string,
): KexecError | undefined {
  const what = msg ?? `${abi} ${errno} ${rule}`;
  if (r.ok) {
    t.fail(`${what}: was accepted`);
    return undefined;
  }
  t.equal(r.error.code, KexecCode[errno], `${what}: code`);
  t.equal(r.error.errno, errno, `${what}: errno`);
  t.equal(r.error.errnoNumber, ERRNO[abi][errno], `${what}: errno number ${ERRNO[abi][errno]}`);
  t.equal(r.error.rule, rule, `${what}: rule`);
  t.equal(r.error.domain, 'kexec');
  t.match(r.error.message, /^kexec: /);
  return r.error;
}

function accepted(t: Test, r: KexecOutcome, msg: string): KexecState {
  t.ok(r.ok, msg);
  if (!r.ok) t.comment(r.error.message);
  return r.state;
}

t.test('the good requests load', (t) => {
  const l = kexecLoad(state('linux'), request('linux'));
  t.ok(l.ok);
  if (l.ok) {
    t.equal(l.slot, 'crash');
    t.equal(l.image?.kind, 'crash');
    t.equal(l.image?.controlPage, GiB + 0x2000n, 'the first hole of the reservation no segment covers');
    t.same(
      l.image?.segments.map((s) => [s.mem, s.memsz, s.data.length]),
      [
        [GiB, 0x2000n, 0x1800],
        [GiB + 2n * MiB, MiB, 0x8000],
      ],
    );
    t.same(l.state.loaded.crash, l.image);
    t.same(l.warnings, []);
  }
  const n = kexecLoad(state('linux'), normal('linux'));
  t.ok(n.ok && n.slot === 'normal' && n.state.loaded.normal !== undefined && n.state.loaded.crash === undefined);
  const f = kexecLoad(state('freebsd'), request('freebsd', { segments: [...request('freebsd').segments].reverse() }));
  t.ok(f.ok);
  if (f.ok) {
    t.same(
      f.image?.segments.map((s) => s.mem),
      [GiB, GiB + 2n * MiB],
      'FreeBSD sorts the segments by destination',
    );
    t.equal(f.slot, 'normal');
  }
  t.end();
});

t.test('no userspace yet: KEXEC_NO_USERSPACE in both ABIs', (t) => {
  for (const abi of ['linux', 'freebsd'] as const) {
    const r = kexecLoad(state(abi, { userspaceReached: false }), request(abi));
    t.notOk(r.ok);
    if (!r.ok) {
      t.equal(r.error.code, KexecCode.NoUserspace);
      t.equal(r.error.errno, undefined, 'not an errno');
      t.equal(r.error.rule, 'userspace');
    }
  }
  t.end();
});

t.test('Linux rules, one at a time', async (t) => {
  const abi = 'linux' as const;
  const S = (extra: Partial<KexecState> = {}): KexecState => state(abi, extra);
  const R = (extra: Partial<KexecRequest> = {}): KexecRequest => request(abi, extra);
  t.test('permission: EPERM', (t) => {
    refused(t, kexecLoad(S(), R({ privileged: false })), abi, 'EPERM', 'permission', 'no CAP_SYS_BOOT');
    refused(t, kexecLoad(S({ loadDisabled: true }), R()), abi, 'EPERM', 'permission', 'kexec_load_disabled');
    refused(t, kexecLoad(S({ lockdown: true }), R()), abi, 'EPERM', 'permission', 'lockdown');
    t.end();
  });
  t.test('flags: EINVAL for bits outside KEXEC_FLAGS', (t) => {
    refused(t, kexecLoad(S(), R({ flags: R().flags | 0x10n })), abi, 'EINVAL', 'flags');
    refused(
      t,
      kexecLoad(S(), R({ flags: R().flags | LINUX_KEXEC.CRASH_HOTPLUG_SUPPORT })),
      abi,
      'EINVAL',
      'flags',
      '0x8',
    );
    refused(
      t,
      kexecLoad(S(), normal(abi, { flags: LINUX_KEXEC.PRESERVE_CONTEXT })),
      abi,
      'EINVAL',
      'flags',
      'PRESERVE_CONTEXT without KEXEC_JUMP',
    );
    t.ok(
      kexecLoad(S({ kexecJump: true }), normal(abi, { flags: LINUX_KEXEC.PRESERVE_CONTEXT })).ok,
      'allowed with CONFIG_KEXEC_JUMP',
    );
    t.ok(
      kexecLoad(S(), R({ flags: R().flags | LINUX_KEXEC.UPDATE_ELFCOREHDR })).ok,
      'UPDATE_ELFCOREHDR is a KEXEC_FLAGS bit',
    );
    t.end();
  });
  t.test('segment-count: EINVAL for more than 16', (t) => {
    const segs = Array.from({ length: 17 }, (_, i) => seg(GiB + BigInt(i) * 0x1000n, 0x1000n));
    refused(t, kexecLoad(S(), R({ segments: segs })), abi, 'EINVAL', 'segment-count');
    t.ok(kexecLoad(S(), R({ segments: segs.slice(0, 16), entry: GiB })).ok, '16 is allowed');
    t.end();
  });
  t.test('arch: EINVAL for another arch; DEFAULT is accepted', (t) => {
    refused(t, kexecLoad(S(), R({ flags: LINUX_KEXEC.ON_CRASH | LINUX_KEXEC.ARCH_AARCH64 })), abi, 'EINVAL', 'arch');
    t.ok(kexecLoad(S(), R({ flags: LINUX_KEXEC.ON_CRASH | LINUX_KEXEC.ARCH_DEFAULT })).ok);
    t.ok(
      kexecLoad(S({ arch: 'arm64' }), R({ flags: LINUX_KEXEC.ON_CRASH | LINUX_KEXEC.ARCH_AARCH64 })).ok,
      'arm64 host',
    );
    t.end();
  });
  t.test('copy-in: EFAULT when nr_segments is more than the array holds', (t) => {
    refused(t, kexecLoad(S(), R({ nseg: 3n })), abi, 'EFAULT', 'copy-in');
    t.end();
  });
  t.test('busy: EBUSY', (t) => {
    refused(t, kexecLoad(S({ loadInProgress: true }), R()), abi, 'EBUSY', 'busy');
    t.end();
  });
  t.test('crash-entry: EADDRNOTAVAIL for an entry outside the reservation, or no reservation', (t) => {
    refused(t, kexecLoad(S(), R({ entry: GiB - 1n })), abi, 'EADDRNOTAVAIL', 'crash-entry');
    refused(t, kexecLoad(S(), R({ entry: GiB + 256n * MiB })), abi, 'EADDRNOTAVAIL', 'crash-entry', 'one past the end');
    const { crashReservation: _none, ...noRes } = S();
    refused(t, kexecLoad(noRes, R()), abi, 'EADDRNOTAVAIL', 'crash-entry', 'no crashkernel= reservation');
    t.ok(
      kexecLoad(S(), R({ entry: GiB + 256n * MiB - 1n })).ok,
      'the last byte is inside (crashk_res.end is inclusive)',
    );
    t.end();
  });
  t.test('wrap: EADDRNOTAVAIL when mem + memsz passes 2^64', (t) => {
    refused(
      t,
      kexecLoad(S(), normal(abi, { segments: [seg((1n << 64n) - 0x1000n, 0x2000n, 0n)] })),
      abi,
      'EADDRNOTAVAIL',
      'wrap',
    );
    t.end();
  });
  t.test('alignment: EADDRNOTAVAIL for mem or memsz not page aligned (bufsz may be anything)', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(GiB + 0x800n, 0x1000n)] })), abi, 'EADDRNOTAVAIL', 'alignment', 'mem');
    refused(t, kexecLoad(S(), R({ segments: [seg(GiB, 0x1800n)] })), abi, 'EADDRNOTAVAIL', 'alignment', 'memsz');
    t.ok(kexecLoad(S(), R({ segments: [seg(GiB, 0x2000n, 0x123n)] })).ok, 'an odd bufsz is fine');
    t.end();
  });
  t.test('destination-limit: EADDRNOTAVAIL at or past KEXEC_DESTINATION_MEMORY_LIMIT', (t) => {
    const high = (1n << 46n) - 0x1000n;
    const big = S({ physSegs: [range(MiB, 1n << 47n)] });
    refused(
      t,
      kexecLoad(big, normal(abi, { segments: [seg(high, 0x1000n, 0n)] })),
      abi,
      'EADDRNOTAVAIL',
      'destination-limit',
      'amd64 2^46 - 1',
    );
    t.ok(
      kexecLoad({ ...big, arch: 'arm64' }, normal(abi, { flags: 0n, segments: [seg(high, 0x1000n, 0n)] })).ok,
      'arm64: -1UL',
    );
    t.end();
  });
  t.test('overlap: EINVAL', (t) => {
    refused(
      t,
      kexecLoad(S(), R({ segments: [seg(GiB, 0x3000n), seg(GiB + 0x2000n, 0x1000n)] })),
      abi,
      'EINVAL',
      'overlap',
    );
    t.ok(kexecLoad(S(), R({ segments: [seg(GiB, 0x2000n), seg(GiB + 0x2000n, 0x1000n)] })).ok, 'touching is fine');
    t.end();
  });
  t.test('bufsz: EINVAL for bufsz > memsz', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(GiB, 0x1000n, 0x1001n)] })), abi, 'EINVAL', 'bufsz');
    t.end();
  });
  t.test('half-ram: EINVAL for one segment, or all, over half of RAM', (t) => {
    const half = (2n * GiB - MiB + 0x9_e000n) / 0x1000n / 2n; // totalram pages / 2
    refused(
      t,
      kexecLoad(S(), normal(abi, { segments: [seg(MiB, (half + 1n) * 0x1000n, 0n)] })),
      abi,
      'EINVAL',
      'half-ram',
      'one segment',
    );
    refused(
      t,
      kexecLoad(S(), normal(abi, { segments: [seg(MiB, half * 0x1000n, 0n), seg(MiB + half * 0x1000n, 0x1000n, 0n)] })),
      abi,
      'EINVAL',
      'half-ram',
      'all together',
    );
    t.ok(kexecLoad(S(), normal(abi, { segments: [seg(MiB, half * 0x1000n, 0n)] })).ok, 'exactly half is fine');
    t.end();
  });
  t.test('crash-bounds: EADDRNOTAVAIL for a segment outside the reservation', (t) => {
    refused(
      t,
      kexecLoad(S(), R({ segments: [seg(GiB - 0x1000n, 0x2000n)] })),
      abi,
      'EADDRNOTAVAIL',
      'crash-bounds',
      'below',
    );
    refused(
      t,
      kexecLoad(S(), R({ segments: [seg(GiB + 256n * MiB - 0x1000n, 0x2000n)] })),
      abi,
      'EADDRNOTAVAIL',
      'crash-bounds',
      'past the end',
    );
    t.end();
  });
  t.test('control-page: ENOMEM when the segments cover the whole reservation', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(GiB, 256n * MiB, 0n)] })), abi, 'ENOMEM', 'control-page');
    const r = kexecLoad(S(), R({ segments: [seg(GiB, 256n * MiB - 0x1000n, 0n)] }));
    t.ok(r.ok && r.image?.controlPage === GiB + 256n * MiB - 0x1000n, 'the last page is the hole');
    t.end();
  });
  t.test('normal images: ENOMEM for the control page, the swap page, the segment pages', (t) => {
    refused(t, kexecLoad(S({ freePages: 0n }), normal(abi)), abi, 'ENOMEM', 'control-page');
    refused(t, kexecLoad(S({ freePages: 1n }), normal(abi)), abi, 'ENOMEM', 'swap-page');
    refused(t, kexecLoad(S({ freePages: 2n + 257n }), normal(abi)), abi, 'ENOMEM', 'segment-pages');
    t.ok(kexecLoad(S({ freePages: 2n + 258n }), normal(abi)).ok, '2 + 2 + 256 pages are enough');
    t.end();
  });
  t.test('buffer: EFAULT when the buffer holds fewer than bufsz bytes', (t) => {
    refused(
      t,
      kexecLoad(S(), R({ segments: [{ buf: new Uint8Array(10), bufsz: 0x100n, mem: GiB, memsz: 0x1000n }] })),
      abi,
      'EFAULT',
      'buffer',
    );
    t.end();
  });
  t.test('argument: EINVAL for a value no 64-bit register holds', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(-0x1000n, 0x1000n)] })), abi, 'EINVAL', 'argument');
    t.end();
  });
});

t.test('FreeBSD rules, one at a time', async (t) => {
  const abi = 'freebsd' as const;
  const S = (extra: Partial<KexecState> = {}): KexecState => state(abi, extra);
  const R = (extra: Partial<KexecRequest> = {}): KexecRequest => request(abi, extra);
  t.test('permission: EPERM (priv_check PRIV_REBOOT)', (t) => {
    refused(t, kexecLoad(S(), R({ privileged: false })), abi, 'EPERM', 'permission');
    t.end();
  });
  t.test('segment-count: EINVAL for more than 16', (t) => {
    const segs = Array.from({ length: 17 }, (_, i) => seg(GiB + BigInt(i) * 0x1000n, 0x1000n));
    refused(t, kexecLoad(S(), R({ segments: segs })), abi, 'EINVAL', 'segment-count');
    t.end();
  });
  t.test('busy: EBUSY', (t) => {
    refused(t, kexecLoad(S({ loadInProgress: true }), R()), abi, 'EBUSY', 'busy');
    t.end();
  });
  t.test('copy-in: EFAULT', (t) => {
    refused(t, kexecLoad(S(), R({ nseg: 5n })), abi, 'EFAULT', 'copy-in');
    t.end();
  });
  t.test('phys-segment: EINVAL outside RAM, or across two adjacent vm_phys_segs', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(4n * GiB, 0x1000n)] })), abi, 'EINVAL', 'phys-segment', 'outside');
    const split = S({ physSegs: [range(MiB, GiB), range(MiB + GiB, GiB)] });
    refused(
      t,
      kexecLoad(split, R({ segments: [seg(GiB, 2n * MiB)] })),
      abi,
      'EINVAL',
      'phys-segment',
      'across adjacent segments',
    );
    t.ok(kexecLoad(split, R({ segments: [seg(GiB - MiB, MiB)] })).ok, 'up to the end of one segment');
    t.end();
  });
  t.test('bufsz: EINVAL for bufsz > memsz', (t) => {
    refused(t, kexecLoad(S(), R({ segments: [seg(GiB, 0x1000n, 0x1001n)] })), abi, 'EINVAL', 'bufsz');
    t.end();
  });
  t.test('buffer: EFAULT when the buffer holds fewer than bufsz bytes', (t) => {
    refused(
      t,
      kexecLoad(S(), R({ segments: [{ buf: new Uint8Array(1), bufsz: 2n, mem: GiB, memsz: 0x1000n }] })),
      abi,
      'EFAULT',
      'buffer',
    );
    t.end();
  });
  t.test('la57: EINVAL on amd64 with 5-level paging', (t) => {
    refused(t, kexecLoad(S({ la57: true }), R()), abi, 'EINVAL', 'la57');
    t.ok(kexecLoad(S({ la57: true, arch: 'arm64' }), R()).ok, 'only amd64');
    t.end();
  });
  t.test('what FreeBSD does not check: alignment, overlap, flags — warnings instead', (t) => {
    const r = kexecLoad(S(), R({ flags: 0x1n, segments: [seg(GiB + 0x800n, 0x1800n), seg(GiB + 0x1000n, 0x1000n)] }));
    t.ok(r.ok);
    if (r.ok) {
      t.same(
        r.warnings.map((w) => w.code),
        ['FLAGS_IGNORED', 'MEMSZ_NOT_PAGE_MULTIPLE', 'OVERLAP_UNCHECKED'],
      );
      t.equal(r.slot, 'normal', 'KEXEC_ON_CRASH does not make a crash image in FreeBSD');
    }
    t.end();
  });
  t.test('argument: EINVAL for a value no 64-bit register holds', (t) => {
    refused(t, kexecLoad(S(), R({ entry: 1n << 64n })), abi, 'EINVAL', 'argument');
    t.end();
  });
  t.test("segment_fits' u64 arithmetic is reproduced: a wrapping segment passes, as in the kernel", (t) => {
    t.ok(kexecLoad(S(), R({ segments: [seg((1n << 64n) - 0x1000n, 0x2000n, 0n)] })).ok);
    t.end();
  });
});

t.test('the order of the rules: a request breaking two gets the first one', async (t) => {
  const cases: [string, KexecAbi, KexecState, KexecRequest, KexecErrno, string][] = [
    [
      'permission before flags',
      'linux',
      state('linux', { lockdown: true }),
      request('linux', { flags: 0x10n }),
      'EPERM',
      'permission',
    ],
    [
      'flags before segment-count',
      'linux',
      state('linux'),
      request('linux', { flags: 0x10n, nseg: 17n }),
      'EINVAL',
      'flags',
    ],
    [
      'segment-count before arch',
      'linux',
      state('linux'),
      request('linux', { flags: LINUX_KEXEC.ARCH_AARCH64, nseg: 17n }),
      'EINVAL',
      'segment-count',
    ],
    [
      'arch before copy-in',
      'linux',
      state('linux'),
      request('linux', { flags: LINUX_KEXEC.ARCH_AARCH64, nseg: 3n }),
      'EINVAL',
      'arch',
    ],
    [
      'copy-in before busy',
      'linux',
      state('linux', { loadInProgress: true }),
      request('linux', { nseg: 3n }),
      'EFAULT',
      'copy-in',
    ],
    [
      'busy before crash-entry',
      'linux',
      state('linux', { loadInProgress: true }),
      request('linux', { entry: 0n }),
      'EBUSY',
      'busy',
    ],
    [
      'crash-entry before alignment',
      'linux',
      state('linux'),
      request('linux', { entry: 0n, segments: [seg(GiB + 1n, 0x1000n)] }),
      'EADDRNOTAVAIL',
      'crash-entry',
    ],
    [
      'alignment (EADDRNOTAVAIL) before overlap (EINVAL)',
      'linux',
      state('linux'),
      request('linux', { segments: [seg(GiB, 0x2000n), seg(GiB + 0x1000n, 0x1800n)] }),
      'EADDRNOTAVAIL',
      'alignment',
    ],
    [
      'segment 0 destination-limit before segment 1 wrap',
      'linux',
      state('linux', { physSegs: [range(MiB, 1n << 47n)] }),
      request('linux', {
        flags: LINUX_KEXEC.ARCH_X86_64,
        segments: [seg(1n << 46n, 0x1000n, 0n), seg((1n << 64n) - 0x1000n, 0x2000n, 0n)],
      }),
      'EADDRNOTAVAIL',
      'destination-limit',
    ],
    [
      'overlap before bufsz',
      'linux',
      state('linux'),
      request('linux', { segments: [seg(GiB, 0x2000n, 0x3000n), seg(GiB + 0x1000n, 0x1000n)] }),
      'EINVAL',
      'overlap',
    ],
    [
      'bufsz (EINVAL) before crash-bounds (EADDRNOTAVAIL)',
      'linux',
      state('linux'),
      request('linux', { segments: [seg(0x1000n, 0x1000n, 0x2000n)] }),
      'EINVAL',
      'bufsz',
    ],
    [
      'crash-bounds before control-page',
      'linux',
      state('linux'),
      request('linux', { segments: [seg(GiB, 256n * MiB + 0x1000n, 0n)] }),
      'EADDRNOTAVAIL',
      'crash-bounds',
    ],
    [
      'control-page (ENOMEM) before buffer (EFAULT)',
      'linux',
      state('linux'),
      request('linux', { segments: [{ buf: new Uint8Array(0), bufsz: 1n, mem: GiB, memsz: 256n * MiB }] }),
      'ENOMEM',
      'control-page',
    ],
    [
      'FreeBSD: permission before segment-count',
      'freebsd',
      state('freebsd'),
      request('freebsd', { privileged: false, nseg: 17n }),
      'EPERM',
      'permission',
    ],
    [
      'FreeBSD: segment-count before busy',
      'freebsd',
      state('freebsd', { loadInProgress: true }),
      request('freebsd', { nseg: 17n }),
      'EINVAL',
      'segment-count',
    ],
    [
      'FreeBSD: busy before copy-in',
      'freebsd',
      state('freebsd', { loadInProgress: true }),
      request('freebsd', { nseg: 3n }),
      'EBUSY',
      'busy',
    ],
    [
      'FreeBSD: per sorted segment, segment 0 bufsz before segment 1 phys-segment',
      'freebsd',
      state('freebsd'),
      request('freebsd', { segments: [seg(8n * GiB, 0x1000n), seg(GiB, 0x1000n, 0x2000n)] }),
      'EINVAL',
      'bufsz',
    ],
    [
      'FreeBSD: phys-segment before bufsz in one segment',
      'freebsd',
      state('freebsd'),
      request('freebsd', { segments: [seg(8n * GiB, 0x1000n, 0x2000n)] }),
      'EINVAL',
      'phys-segment',
    ],
    [
      'FreeBSD: buffer (EFAULT) before la57',
      'freebsd',
      state('freebsd', { la57: true }),
      request('freebsd', { segments: [{ buf: new Uint8Array(0), bufsz: 1n, mem: GiB, memsz: 0x1000n }] }),
      'EFAULT',
      'buffer',
    ],
  ];
  for (const [name, abi, s, r, errno, rule] of cases) {
    t.test(name, (t) => {
      refused(t, kexecLoad(s, r), abi, errno, rule);
      t.end();
    });
  }
});

t.test('reload replaces the old image; unload with zero segments', async (t) => {
  for (const abi of ['linux', 'freebsd'] as const) {
    t.test(abi, (t) => {
      let s = accepted(t, kexecLoad(state(abi), normal(abi)), 'first load');
      const first = s.loaded.normal;
      s = accepted(
        t,
        kexecLoad(s, normal(abi, { entry: GiB + 0x1000n, segments: [seg(GiB, 0x1000n, 0x10n, 7)] })),
        'reload',
      );
      t.not(s.loaded.normal, first);
      t.equal(s.loaded.normal?.entry, GiB + 0x1000n, 'the new image replaced the old one');
      t.equal(s.loaded.normal?.segments.length, 1);
      const u = kexecUnload(s, 'normal');
      t.ok(u.ok && u.action === 'unloaded');
      t.equal(u.state.loaded.normal, undefined, 'nseg 0 unloads');
      t.ok(kexecUnload(u.state).ok, 'unloading nothing is fine');
      t.end();
    });
  }
  t.test('Linux: unloading the crash slot leaves the normal image', (t) => {
    let s = applyKexecLoad(state('linux'), normal('linux'));
    s = applyKexecLoad(s, request('linux'));
    const u = kexecUnload(s, 'crash');
    t.ok(u.ok);
    t.equal(u.state.loaded.crash, undefined);
    t.not(u.state.loaded.normal, undefined);
    t.end();
  });
});

t.test('a failed crash reload leaves no crash kernel loaded (Linux)', (t) => {
  const loaded = applyKexecLoad(applyKexecLoad(state('linux'), normal('linux')), request('linux'));
  t.not(loaded.loaded.crash, undefined);
  const r = kexecLoad(loaded, request('linux', { segments: [seg(GiB + 0x800n, 0x1000n)] }));
  refused(t, r, 'linux', 'EADDRNOTAVAIL', 'alignment');
  t.equal(r.state.loaded.crash, undefined, 'the old crash image was freed before the checks');
  t.not(r.state.loaded.normal, undefined, 'the normal image is untouched');
  t.not(loaded.loaded.crash, undefined, 'the input state is not changed');
  const busy = kexecLoad({ ...loaded, loadInProgress: true }, request('linux'));
  t.not(busy.state.loaded.crash, undefined, 'a refusal before the lock is taken frees nothing');
  const count = kexecLoad(loaded, request('linux', { nseg: 17n }));
  t.not(count.state.loaded.crash, undefined, 'nor does one in kexec_load_check');
  t.end();
});

t.test('a failed normal reload keeps the old image (both ABIs)', (t) => {
  for (const abi of ['linux', 'freebsd'] as const) {
    const s = applyKexecLoad(state(abi), normal(abi));
    const r = kexecLoad(s, normal(abi, { segments: [seg(GiB, 0x1000n, 0x2000n)] }));
    t.notOk(r.ok);
    t.equal(r.state.loaded.normal, s.loaded.normal, `${abi}: still loaded`);
  }
  t.end();
});

t.test('applyKexecLoad throws the KexecError', (t) => {
  t.throws(() => applyKexecLoad(state('linux', { lockdown: true }), request('linux')), KexecError);
  t.end();
});

t.test('each ABI is one ordered table of named steps, in the order of the module contract', (t) => {
  t.same(kexecLoadSteps('linux'), [
    'permission',
    'flags',
    'segment-count',
    'arch',
    'copy-in',
    'busy',
    'unload',
    'free-crash',
    'crash-entry',
    'destination',
    'overlap',
    'bufsz',
    'half-ram',
    'crash-bounds',
    'pages',
    'buffer',
  ]);
  t.same(kexecLoadSteps('freebsd'), [
    'permission',
    'segment-count',
    'busy',
    'flags-ignored',
    'unload',
    'copy-in',
    'sort',
    'phys-segment',
    'buffer',
    'la57',
    'warnings',
  ]);
  t.end();
});
