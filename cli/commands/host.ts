/**
 * The host's life from boot to panic, one command per step, the state kept in a journal
 * (machine/journal.ts; `--state DIR`, default ./.kboot):
 *
 *   kboot boot [--machine M] [--kernel FILE] [--strategy embed|kld|kexec] [--rescue FILE]
 *              [--config loader.conf] [--to PHASE] [--memsize SIZE] [--seed N]
 *   kboot load --crash <elf> [--abi linux|freebsd]     kexec_load(..., KEXEC_ON_CRASH) from userspace
 *   kboot unload --crash                                 kexec_load with no segments
 *   kboot status                                         exit 0 when a rescue kernel is armed (like kexec -S)
 *   kboot load --host [--crash] <elf> [--dry-run]        a real kexec_load(2) on the running system (root)
 *   kboot unload --host [--crash]                        a real kexec_load(2) with no segments (root)
 *   kboot status --host                                  /sys/kernel/kexec_*: exit 0 when a crash kernel is loaded
 *   kboot panic [--at PHASE]                             panic (after advancing to PHASE) and hand off
 *         [--dump-dir DIR | --dump-device FILE] [--format minidump|elf] [--compress none|gzip|zstd]
 *         [--fault dma|its|second-panic|full-target ...] [--no-progress]
 *
 * These are the commands' descriptors: names, arguments and options (closed sets through
 * commander's `.choices()`, cli/choices.ts). Each action (cli/actions/boot.ts, load.ts,
 * status.ts, panic.ts, with the emulated machine; host-kexec.ts for --host, the real system) is
 * loaded only when its command runs. `--host` is never implied.
 * `boot`, `load` and `unload` change the journal and wait for another command holding it
 * (`--wait SECONDS`).
 */
import { Option, type Command } from 'commander';
import { HOST_PHASES } from '../../machine/host/timeline.js';
import type { BootOptions } from '../actions/boot.js';
import type { LoadOptions, UnloadOptions } from '../actions/load.js';
import type { PanicOptions } from '../actions/panic.js';
import type { StatusOptions } from '../actions/status.js';
import {
  DEFAULT_LOCK_WAIT_SECONDS,
  DUMP_COMPRESSION_CHOICES,
  DUMP_FAULT_CHOICES,
  DUMP_FORMAT_CHOICES,
  ITS_HANDOFF_CHOICES,
  KEXEC_ABI_CHOICES,
  STRATEGY_CHOICES,
} from '../choices.js';
import { actionContext, endWith } from '../context.js';
import type { CliIo } from '../io.js';

/** Adds `--state DIR`. */
function withState(c: Command): Command {
  return c.option('--state <dir>', 'the state journal directory (default ./.kboot)');
}

/** Adds `--state DIR` and `--wait SECONDS` (commands that change the journal wait for another one holding it). */
function withStateWritten(c: Command): Command {
  return withState(c).option(
    '--wait <seconds>',
    `how long to wait for another kboot command using the state directory (default ${DEFAULT_LOCK_WAIT_SECONDS})`,
  );
}

/** Registers `kboot boot`. */
export function registerBoot(program: Command, io: CliIo): void {
  const cmd = program
    .command('boot')
    .description('boot the host on a fresh emulated machine, arming the rescue kernel the way the strategy does')
    .option('-m, --machine <name|file>', 'machine profile (default amd64-efi)')
    .option('--kernel <file>', 'the host kernel ELF (default: a generated one)')
    .addOption(new Option('--strategy <how>', 'how the rescue kernel is armed (default kld)').choices(STRATEGY_CHOICES))
    .option('--rescue <file>', 'the rescue kernel (shorthand for the loader.conf lines or the embed step)')
    .option('--config <loader.conf>', 'a loader.conf whose rescue_kernel module is preloaded')
    .addOption(new Option('--to <phase>', 'boot up to this phase (default running)').choices(HOST_PHASES))
    .option('--memsize <size>', 'debug.rescue_memsize')
    .addOption(
      new Option(
        '--its-handoff <mode>',
        'how the live GICv3 LPI tables are handed to the rescue kernel (default: memreserve on EFI, fdt on FDT machines)',
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--seed <n>', 'seed of the host model (default 1)');
  withStateWritten(cmd).action(async (opts: BootOptions, c: Command) => {
    const { runBoot } = await import('../actions/boot.js');
    await runBoot(actionContext(c, io), opts);
  });
}

/** Registers `kboot load`. */
export function registerLoad(program: Command, io: CliIo): void {
  const cmd = program
    .command('load')
    .description(
      "kexec_load-style call from the emulated host's userspace (--crash: the rescue kernel); --host: a real kexec_load(2) on this system",
    )
    .argument('<elf>', 'the kernel to load')
    .option('--crash', 'load it as the crash (rescue) kernel (KEXEC_ON_CRASH)')
    .addOption(
      new Option('--abi <abi>', "whose kexec_load rules (default linux; with --host the running system's)").choices(
        KEXEC_ABI_CHOICES,
      ),
    )
    .option('--host', 'a real kexec_load(2) on the system kboot runs on (root; never reboots)')
    .option('--dry-run', 'with --host: plan and print the segments, call nothing')
    .option('--memsize <size>', 'with --host --crash: rescue_memsize (default 128M)')
    .addOption(
      new Option(
        '--its-handoff <mode>',
        'how the live GICv3 LPI tables are handed to the rescue kernel (default: memreserve on EFI, fdt on FDT machines)',
      ).choices(ITS_HANDOFF_CHOICES),
    );
  withStateWritten(cmd).action(async (file: string, opts: LoadOptions, c: Command) => {
    const { runLoad } = await import('../actions/load.js');
    endWith(c, await runLoad(actionContext(c, io), file, opts));
  });
}

/** Registers `kboot unload`. */
export function registerUnload(program: Command, io: CliIo): void {
  const cmd = program
    .command('unload')
    .description('unload the crash kernel (kexec_load with no segments); --host: on this system, for real')
    .option('--crash', 'the crash kernel (the only kind modelled: required without --host)')
    .option('--host', 'a real kexec_load(2) with no segments on the system kboot runs on (root)');
  withStateWritten(cmd).action(async (opts: UnloadOptions, c: Command) => {
    const { runUnload } = await import('../actions/load.js');
    endWith(c, await runUnload(actionContext(c, io), opts));
  });
}

/** Registers `kboot status`. */
export function registerStatus(program: Command, io: CliIo): void {
  const cmd = program
    .command('status')
    .description('the machine, its phase and whether a rescue kernel is armed (exit 1 when not, like kexec -S)')
    .option('--host', 'the running system instead: /sys/kernel/kexec_* and the crash reservation');
  withState(cmd).action(async (opts: StatusOptions, c: Command) => {
    const { runStatus } = await import('../actions/status.js');
    endWith(c, await runStatus(actionContext(c, io), opts));
  });
}

/** Registers `kboot panic`. */
export function registerPanic(program: Command, io: CliIo): void {
  const cmd = program
    .command('panic')
    .description(
      'panic the host (after advancing to --at PHASE), hand off to the rescue kernel on the CPU, and optionally save its dump',
    )
    .addOption(new Option('--at <phase>', 'advance the host to this phase first').choices(HOST_PHASES))
    .option('--dump-dir <dir>', 'save the dump there as savecore does: vmcore.N, info.N, bounds (never overwrites)')
    .option('--dump-device <file>', 'write a dump-device image instead (kerneldumpheader, dump, kerneldumpheader)')
    .addOption(
      new Option(
        '--format <fmt>',
        'minidump (what /dev/dumper streams; default) or elf (a full dump of dump_avail)',
      ).choices(DUMP_FORMAT_CHOICES),
    )
    .addOption(new Option('--compress <kind>', 'compression (default none)').choices(DUMP_COMPRESSION_CHOICES))
    .addOption(new Option('--fault <name...>', 'faults during the dump').choices(DUMP_FAULT_CHOICES))
    .addOption(
      new Option(
        '--its-handoff <mode>',
        'arm with this GICv3 ITS hand-off instead of the one recorded by boot/load',
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--no-progress', 'no progress bar or 10% lines');
  withState(cmd).action(async (opts: PanicOptions, c: Command) => {
    const { runPanic } = await import('../actions/panic.js');
    endWith(c, await runPanic(actionContext(c, io), opts));
  });
}
