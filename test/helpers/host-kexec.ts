/**
 * Whether a test may make a real kexec_load(2) on the machine it runs on. The tests load a
 * probe kernel as the crash kernel: on a kernel with kexec that would replace the system's
 * own crash kernel (kdump), so they do it only where the running kernel has no kexec
 * (/sys/kernel/kexec_crash_loaded absent: the call returns ENOSYS and nothing changes), or
 * when KBOOT_TEST_REAL_KEXEC=1 says the machine may be changed. Root is needed either way.
 */
import { existsSync } from 'node:fs';

/** Why a real call is not allowed here, or undefined when it is. */
export function realKexecRefusal(): string | undefined {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.geteuid?.() !== 0) return 'needs root';
  if (existsSync('/sys/kernel/kexec_crash_loaded') && process.env['KBOOT_TEST_REAL_KEXEC'] !== '1')
    return 'the running kernel has kexec: a test load would replace its crash kernel (set KBOOT_TEST_REAL_KEXEC=1 to allow)';
  return undefined;
}
