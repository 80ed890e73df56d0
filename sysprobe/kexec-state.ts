/**
 * Read-only probe of the running Linux kernel's kexec state, for `kboot status --host`,
 * `kboot load --host` and `kboot plan --host`: /sys/kernel/kexec_loaded,
 * /sys/kernel/kexec_crash_loaded, /sys/kernel/kexec_crash_size, /proc/sys/kernel/kexec_load_disabled
 * and the "Crash kernel" range of /proc/iomem.
 *
 * Contract: every file is read through loader/io/input.ts (bounded, regular files only); a file
 * that is absent (a kernel without kexec has none of /sys/kernel/kexec_*) is `undefined`, never
 * an error; /proc/iomem read without root shows every range as 0-0, so a "Crash kernel" of size
 * 0 is undefined too. Nothing is written. Sources: Linux kernel/ksysfs.c (kexec_loaded,
 * kexec_crash_loaded, kexec_crash_size "%zu\n"), kernel/kexec_core.c (kexec_load_disabled),
 * kernel/crash_reserve.c (crashk_res "Crash kernel"); spec linux-kexec.md §3.3.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseIomem } from '../loader/import/iomem.js';
import { readInputText } from '../loader/io/input.js';

/** What the running kernel says about kexec. */
export interface KexecSysState {
  /** /sys/kernel/kexec_loaded: a normal image is loaded. */
  readonly loaded: boolean | undefined;
  /** /sys/kernel/kexec_crash_loaded: a crash image is loaded. */
  readonly crashLoaded: boolean | undefined;
  /** /sys/kernel/kexec_crash_size: the crash reservation's size in bytes. */
  readonly crashSize: bigint | undefined;
  /** /proc/sys/kernel/kexec_load_disabled as written there ("0" or "1"). */
  readonly loadDisabled: string | undefined;
  /** /proc/iomem "Crash kernel" (nested in System RAM). */
  readonly crashKernel: { readonly start: bigint; readonly size: bigint } | undefined;
  /** Which of the files existed. */
  readonly present: readonly string[];
}

const FILES = {
  loaded: 'sys/kernel/kexec_loaded',
  crashLoaded: 'sys/kernel/kexec_crash_loaded',
  crashSize: 'sys/kernel/kexec_crash_size',
  loadDisabled: 'proc/sys/kernel/kexec_load_disabled',
  iomem: 'proc/iomem',
} as const;

/**
 * Reads the kexec state of the Linux system whose root is `root` (default /). `iomem`: the
 * text of /proc/iomem when the caller has already read it (sysprobe/read.ts readHostSnapshot),
 * so it is not read twice.
 */
export function readKexecSysState(root = '/', iomem?: string): KexecSysState {
  const present: string[] = [];
  const text = (rel: string): string | undefined => {
    const path = join(root, rel);
    if (!existsSync(path)) return undefined;
    present.push(`/${rel}`);
    return readInputText(path, 'memoryMap', { what: `/${rel}` }).trim();
  };
  const flag = (rel: string): boolean | undefined => {
    const t = text(rel);
    return t === undefined ? undefined : /^[0-9]+$/.test(t) ? t !== '0' : undefined;
  };
  const size = text(FILES.crashSize);
  if (iomem !== undefined) present.push(`/${FILES.iomem}`);
  const map = iomem ?? text(FILES.iomem);
  const crash = map === undefined ? undefined : parseIomem(map).find((r) => r.name === 'Crash kernel');
  return {
    loaded: flag(FILES.loaded),
    crashLoaded: flag(FILES.crashLoaded),
    crashSize: size !== undefined && /^[0-9]{1,20}$/.test(size) ? BigInt(size) : undefined,
    loadDisabled: text(FILES.loadDisabled),
    crashKernel: crash === undefined || crash.size <= 1n ? undefined : { start: crash.start, size: crash.size },
    present,
  };
}
