/**
 * `kboot machine import --host`: the machine kboot runs on, from what sysprobe/ read of it
 * (read-only: nothing is written to the system).
 *
 * Contract: `importHost(snapshot)` is pure and picks the best source the snapshot holds:
 *  - Linux/amd64: /sys/firmware/memmap (the firmware's map, what kexec-tools reads), with
 *    /proc/iomem's device windows and "Crash kernel" added when it was readable; firmware
 *    `efi` when /sys/firmware/efi exists, else `bios`. Without a memmap, /proc/iomem alone.
 *  - Linux/arm64: /sys/firmware/fdt (the tree the kernel booted with) as a board DTB; when it
 *    has no usable /memory (an EFI boot: Linux's EFI stub deletes the memory nodes,
 *    drivers/firmware/efi/libstub/fdt.c — read from memory, UNVERIFIED here), the RAM is
 *    /proc/iomem's "System RAM" given as --memory would be. Without a DTB, /proc/iomem alone
 *    (firmware `efi`).
 *  - FreeBSD: `sysctl -b machdep.efi_map`, else `sysctl -b machdep.smap` (amd64).
 * The CPU count is the running system's when the source has none. Every source used is named
 * in a HOST_SOURCES assumption; nothing usable is IMPORT_HOST.
 */
import type { Arch } from '../arch/index.js';
import { importDtb } from './dtb.js';
import { importEfiMap } from './efi-map.js';
import { ImportCode, ImportError } from './errors.js';
import type { MachineFacts } from './facts.js';
import { importIomem } from './iomem.js';
import { importMemmap, type MemmapEntryText } from './memmap.js';
import { importSmap } from './smap.js';

/** What sysprobe/ read of the running machine. */
export interface HostSnapshot {
  readonly os: 'linux' | 'freebsd';
  readonly arch: Arch;
  /** Online CPUs. */
  readonly cpus: number;
  /** Linux: /sys/firmware/efi exists. */
  readonly efi: boolean;
  readonly memmap?: readonly MemmapEntryText[];
  readonly iomem?: string;
  readonly fdt?: Uint8Array;
  readonly efiMap?: Uint8Array;
  readonly smap?: Uint8Array;
}

function tryIomem(s: HostSnapshot): MachineFacts | undefined {
  if (s.iomem === undefined) return undefined;
  try {
    return importIomem(s.iomem, { arch: s.arch, firmware: s.arch === 'amd64' ? (s.efi ? 'efi' : 'bios') : 'efi' });
  } catch (e) {
    if (e instanceof ImportError && e.code === ImportCode.NoMemory) return undefined;
    throw e;
  }
}

function linuxAmd64(s: HostSnapshot): { facts: MachineFacts; used: string[] } {
  const io = tryIomem(s);
  if (s.memmap !== undefined && s.memmap.length > 0) {
    const mm = importMemmap(s.memmap, { arch: 'amd64', firmware: s.efi ? 'efi' : 'bios' });
    const extra =
      io === undefined
        ? []
        : io.mmio.filter((m) => !mm.reserved.some((r) => r.start < m.start + m.size && m.start < r.start + r.size));
    return {
      facts: { ...mm, mmio: [...mm.mmio, ...extra], crashKernel: io?.crashKernel },
      used: ['/sys/firmware/memmap', ...(io === undefined ? [] : ['/proc/iomem (device windows, Crash kernel)'])],
    };
  }
  if (io !== undefined) return { facts: io, used: ['/proc/iomem'] };
  throw new ImportError(
    ImportCode.Host,
    'import: neither /sys/firmware/memmap nor a readable /proc/iomem (run as root)',
    { os: s.os },
  );
}

function linuxArm64(s: HostSnapshot): { facts: MachineFacts; used: string[] } {
  const io = tryIomem(s);
  if (s.fdt !== undefined) {
    try {
      return { facts: importDtb(s.fdt), used: ['/sys/firmware/fdt'] };
    } catch (e) {
      if (!(e instanceof ImportError && e.code === ImportCode.NoMemory) || io === undefined) throw e;
      const facts = importDtb(s.fdt, { memory: io.ram });
      return {
        facts: { ...facts, crashKernel: io.crashKernel },
        used: ['/sys/firmware/fdt', '/proc/iomem (System RAM)'],
      };
    }
  }
  if (io !== undefined) return { facts: io, used: ['/proc/iomem'] };
  throw new ImportError(ImportCode.Host, 'import: neither /sys/firmware/fdt nor a readable /proc/iomem (run as root)', {
    os: s.os,
  });
}

function freebsd(s: HostSnapshot): { facts: MachineFacts; used: string[] } {
  if (s.efiMap !== undefined && s.efiMap.length > 0)
    return { facts: importEfiMap(s.efiMap, { arch: s.arch }), used: ['sysctl -b machdep.efi_map'] };
  if (s.arch === 'amd64' && s.smap !== undefined && s.smap.length > 0)
    return { facts: importSmap(s.smap), used: ['sysctl -b machdep.smap'] };
  throw new ImportError(ImportCode.Host, 'import: sysctl gave neither machdep.efi_map nor machdep.smap', {
    os: s.os,
    arch: s.arch,
  });
}

/** Facts of the running machine (see the module contract). */
export function importHost(s: HostSnapshot): MachineFacts {
  const { facts, used } = s.os === 'freebsd' ? freebsd(s) : s.arch === 'amd64' ? linuxAmd64(s) : linuxArm64(s);
  return {
    ...facts,
    source: 'host',
    cpus: facts.cpus ?? s.cpus,
    assumptions: [
      ...facts.assumptions,
      {
        code: 'HOST_SOURCES',
        message: `read from the running ${s.os}/${s.arch} system: ${used.join(', ')}; CPU count ${facts.cpus === undefined ? `${s.cpus} (online CPUs)` : `${facts.cpus} (from the map)`}`,
      },
    ],
  };
}
