/**
 * The closed sets of values the command line offers (commander `.choices()`), importable
 * without loading the modules that define them: the libraries' lists live in modules that
 * load the emulator, the dumper or the addon (machine/session.ts STRATEGIES, rescue/dumper.ts
 * DUMP_FORMATS, dump/compress.ts DUMP_COMPRESSIONS, rescue/crash-dump.ts DUMP_FAULTS), and a
 * command's descriptor must not pay for them at start-up (issue 13 item 5).
 *
 * Contract: each list holds exactly the values of the library's type, in the library's
 * order. The type checks below fail to compile when a value is missing or extra;
 * test/unit/cli/choices.test.ts compares the orders with the libraries' runtime lists.
 * HOST_PHASES (machine/host/timeline.ts) is light and is imported directly by the
 * descriptors.
 */
import type { DumpCompression } from '../dump/compress.js';
import type { ProbeMode } from '../kernels/probe/layout.js';
import type { Arch } from '../loader/arch/index.js';
import type { KexecAbi } from '../loader/kexec/abi.js';
import type { StrategyId } from '../loader/strategy.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import type { DumpFault } from '../rescue/crash-dump.js';
import type { DumpFormat } from '../rescue/dumper.js';

/** True only when `A` and `B` are the same union. */
type SameUnion<A, B> = [Exclude<A, B>] extends [never] ? ([Exclude<B, A>] extends [never] ? true : false) : false;

/** `--arch` of `kboot probe-kernel` and `kboot demo`: loader/arch ARCHES. */
export const ARCH_CHOICES = ['amd64', 'arm64'] as const;
/** `kboot boot --strategy`: loader/strategy.ts STRATEGY_IDS. */
export const STRATEGY_CHOICES = ['embed', 'kld', 'kexec'] as const;
/** `kboot panic --format`: rescue/dumper.ts DUMP_FORMATS. */
export const DUMP_FORMAT_CHOICES = ['minidump', 'elf'] as const;
/** `kboot panic --compress`: dump/compress.ts DUMP_COMPRESSIONS. */
export const DUMP_COMPRESSION_CHOICES = ['none', 'gzip', 'zstd'] as const;
/** `kboot panic --fault`: rescue/crash-dump.ts DUMP_FAULTS. */
export const DUMP_FAULT_CHOICES = ['dma', 'its', 'second-panic', 'full-target'] as const;
/** `kboot load --abi`: whose kexec_load rules (loader/kexec/abi.ts KexecAbi). */
export const KEXEC_ABI_CHOICES = ['linux', 'freebsd'] as const;
/** `kboot plan --place`: loader/plan findHole's `prefer`. */
export const PLACE_CHOICES = ['highest', 'lowest'] as const;
/** `kboot machine import --firmware`: what an amd64 Linux memory map was handed by (loader/import). */
export const FIRMWARE_IMPORT_CHOICES = ['efi', 'bios'] as const;
/** `--its-handoff` of plan, boot, load, panic, exec and compare: loader/plan/its-handoff.ts ITS_HANDOFF_MODES. */
export const ITS_HANDOFF_CHOICES = ['none', 'memreserve', 'fdt'] as const;
/** `kboot probe-kernel --mode`: kernels/probe/layout.ts ProbeMode. */
export const PROBE_MODE_CHOICES = ['rescue', 'kexec'] as const;

/**
 * How long a command waits for another one holding the state directory, by default:
 * native/dir-lock.ts DEFAULT_LOCK_WAIT_MS in seconds (that module loads the addon's binding).
 */
export const DEFAULT_LOCK_WAIT_SECONDS = 60;

const exact: {
  readonly arch: SameUnion<(typeof ARCH_CHOICES)[number], Arch>;
  readonly strategy: SameUnion<(typeof STRATEGY_CHOICES)[number], StrategyId>;
  readonly format: SameUnion<(typeof DUMP_FORMAT_CHOICES)[number], DumpFormat>;
  readonly compression: SameUnion<(typeof DUMP_COMPRESSION_CHOICES)[number], DumpCompression>;
  readonly fault: SameUnion<(typeof DUMP_FAULT_CHOICES)[number], DumpFault>;
  readonly abi: SameUnion<(typeof KEXEC_ABI_CHOICES)[number], KexecAbi>;
  readonly mode: SameUnion<(typeof PROBE_MODE_CHOICES)[number], ProbeMode>;
  readonly its: SameUnion<(typeof ITS_HANDOFF_CHOICES)[number], ItsHandoffMode>;
} = { arch: true, strategy: true, format: true, compression: true, fault: true, abi: true, mode: true, its: true };
void exact;
