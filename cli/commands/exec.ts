/**
 * `kboot exec <elf>` and `kboot exec --machine PROFILE --segments-from-last-host-load`: the
 * command's descriptor; its action (cli/actions/exec.ts, with the emulated machine) is loaded
 * only when the command runs.
 */
import { Option, type Command } from 'commander';
import type { ExecOptions } from '../actions/exec.js';
import { ITS_HANDOFF_CHOICES } from '../choices.js';
import { actionContext, endWith } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot exec`. */
export function registerExec(program: Command, io: CliIo): void {
  program
    .command('exec')
    .description('load a kernel into a fresh emulated machine, run the trampoline and enter it')
    .argument(
      '[elf]',
      'the kernel (a probe kernel reports back; any other kernel gets the entry-contract check); none with --segments-from-last-host-load',
    )
    .option('-m, --machine <name|file>', 'machine profile (default: amd64-efi or arm64-fdt)')
    .option('--crash', 'enter it as a rescue kernel through D47358 rescue_kernel_exec instead of a kexec reboot')
    .option('--memsize <size>', 'rescue_memsize for --crash')
    .addOption(
      new Option(
        '--its-handoff <mode>',
        'for --crash: how the live GICv3 LPI tables are handed off (default: memreserve on EFI, fdt on FDT machines)',
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--exact', 'emulate every copy instruction (no native acceleration)')
    .option('--trace', 'print the hand-off step by step')
    .option(
      '--segments-from-last-host-load',
      'run the exact segments of the last kboot load --host (or --dry-run) recorded in the state directory',
    )
    .option('--state <dir>', 'with --segments-from-last-host-load: the state directory (default ./.kboot)')
    .action(async (file: string | undefined, opts: ExecOptions, cmd: Command) => {
      const { runExec } = await import('../actions/exec.js');
      endWith(cmd, await runExec(actionContext(cmd, io), file, opts));
    });
}
