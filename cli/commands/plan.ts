/**
 * `kboot plan --crash <elf>`: the command's descriptor; its action (cli/actions/plan.ts, with
 * the planner) is loaded only when the command runs.
 */
import { Option, type Command } from 'commander';
import type { PlanOptions } from '../actions/plan.js';
import { ITS_HANDOFF_CHOICES, PLACE_CHOICES } from '../choices.js';
import { actionContext } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot plan`. */
export function registerPlan(program: Command, io: CliIo): void {
  program
    .command('plan')
    .description('plan a rescue-kernel hand-off: where the reservation goes and what it holds')
    .argument('<elf>', 'the rescue kernel (an ELF file in FreeBSD rescue layout)')
    .option('--crash', 'plan a crash (rescue) kernel hand-off (the only kind planned today)')
    .option(
      '-m, --machine <name|file>',
      'machine profile: a built-in name or a JSON file (default: amd64-efi or arm64-fdt)',
    )
    .option(
      '--memsize <size>',
      "rescue_memsize, the rescue kernel's free memory (default: debug.rescue_memsize or 128M)",
    )
    .option('--at <addr>', 'place the reservation at this physical address (checked)')
    .addOption(
      new Option('--place <where>', 'the highest or lowest free place (default highest)').choices(PLACE_CHOICES),
    )
    .addOption(
      new Option(
        '--its-handoff <mode>',
        'how the live GICv3 LPI tables are handed to the rescue kernel (default: memreserve on EFI, fdt on FDT machines)',
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--print-reservation-size', 'print only the reservation size in bytes')
    .option('--host', 'with --print-reservation-size: for the running host (its crashkernel= size)')
    .option('--state <dir>', 'with --host: the state directory its host event goes to (default ./.kboot)')
    .action(async (file: string, opts: PlanOptions, cmd: Command) => {
      const { runPlan } = await import('../actions/plan.js');
      await runPlan(actionContext(cmd, io), file, opts);
    });
}
