/**
 * `kboot machine import|list|show|rescue-dtb`: the command's descriptor; its actions
 * (cli/actions/machine.ts, with the importers) are loaded only when a subcommand runs.
 */
import { Option, type Command } from 'commander';
import type { ImportOpts, RescueDtbOpts } from '../actions/machine.js';
import { ARCH_CHOICES, FIRMWARE_IMPORT_CHOICES, ITS_HANDOFF_CHOICES } from '../choices.js';
import { actionContext } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot machine` and its subcommands. */
export function registerMachine(program: Command, io: CliIo): void {
  const machine = program
    .command('machine')
    .description('import, list and show machine profiles (real boards, memory maps, this host)');
  machine
    .command('import')
    .description('make a machine profile from a board DTB, a FreeBSD or Linux memory map, or the running host')
    .option('--dtb <file>', 'an arm64 board device tree blob')
    .option('--efi-map <file>', 'sysctl -b machdep.efi_map output, or the text sysctl machdep.efi_map prints')
    .option('--smap <file>', 'sysctl -b machdep.smap output, or the text sysctl machdep.smap prints')
    .option('--memmap <dir>', 'a Linux /sys/firmware/memmap directory (or a copy of one)')
    .option('--iomem <file>', 'a Linux /proc/iomem (read as root)')
    .option('--host', 'the machine kboot runs on (Linux /sys and /proc, FreeBSD sysctl; read-only)')
    .option('-o, --output <file>', 'where to write the profile (default NAME.json; - prints it)')
    .option('--memory <base:size...>', 'RAM the firmware fills into /memory (with --dtb), e.g. 0x40000000:2G')
    .option('--name <name>', 'the profile name (default: from the file name)')
    .addOption(new Option('--arch <arch>', 'for a memory map (default amd64)').choices(ARCH_CHOICES))
    .addOption(
      new Option('--firmware <kind>', 'for a Linux map of an amd64 machine (default bios)').choices(
        FIRMWARE_IMPORT_CHOICES,
      ),
    )
    .option('--force', 'replace an existing profile file')
    .action(async (opts: ImportOpts, cmd: Command) => {
      const { runMachineImport } = await import('../actions/machine.js');
      runMachineImport(actionContext(cmd, io), opts);
    });
  machine
    .command('list')
    .description('the built-in profiles and the imported ones in a directory, one line each')
    .option('--dir <dir>', 'where imported profiles are (default: the current directory)')
    .action(async (opts: { dir?: string }, cmd: Command) => {
      const { runMachineList } = await import('../actions/machine.js');
      runMachineList(actionContext(cmd, io), opts);
    });
  machine
    .command('show')
    .description("a machine's memory map, devices, provenance, assumptions and D47358 rules")
    .argument('<machine>', 'a built-in name or a profile file')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { runMachineShow } = await import('../actions/machine.js');
      runMachineShow(actionContext(cmd, io), name);
    });
  machine
    .command('rescue-dtb')
    .description('write the device tree D47358 puts in the reservation for a rescue kernel on an FDT machine')
    .argument('<machine>', 'a built-in name or a profile file (an fdt machine)')
    .argument('<elf>', 'the rescue kernel')
    .addOption(new Option('-o, --output <file>', 'where to write the DTB').makeOptionMandatory())
    .option('--memsize <size>', 'rescue_memsize (default: debug.rescue_memsize or 128M)')
    .addOption(
      new Option(
        '--its-handoff <mode>',
        "fdt (default on a machine with live GICv3 LPI tables): no-map nodes for them; none: D47358's bytes",
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--force', 'replace an existing file')
    .action(async (name: string, file: string, opts: RescueDtbOpts, cmd: Command) => {
      const { runMachineRescueDtb } = await import('../actions/machine.js');
      runMachineRescueDtb(actionContext(cmd, io), name, file, opts);
    });
}
