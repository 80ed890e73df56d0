/**
 * `kboot compare <rescue.elf>`: the command's descriptor; its action (cli/actions/compare.ts,
 * with compare/ and the emulated machine) is loaded only when the command runs.
 */
import { Option, type Command } from 'commander';
import type { CompareCliOptions } from '../actions/compare.js';
import { ITS_HANDOFF_CHOICES } from '../choices.js';
import { actionContext } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot compare`. */
export function registerCompare(program: Command, io: CliIo): void {
  program
    .command('compare')
    .description(
      'run embed, KLD and kexec through the same scenarios on the emulated machine and compare them (armed window, memory, copies, jump, dump, replacement, faults)',
    )
    .argument('<rescue.elf>', 'the rescue kernel (amd64 or arm64, FreeBSD layout)')
    .option('-m, --machine <name|file...>', "machine profiles (default: every built-in profile of the kernel's arch)")
    .option('--seed <n>', 'seed of the host model (default 1)')
    .addOption(
      new Option(
        '--its-handoff <mode>',
        "the GICv3 ITS hand-off kboot builds for its strategies (default: the one each machine's firmware carries); the D47358 baseline is always shown as none",
      ).choices(ITS_HANDOFF_CHOICES),
    )
    .option('--svg <file>', 'also write a timeline chart of the armed windows and panic outcomes')
    .option('--force', 'replace the --svg file if it exists')
    .action(async (file: string, opts: CompareCliOptions, cmd: Command) => {
      const { runCompareCommand } = await import('../actions/compare.js');
      await runCompareCommand(actionContext(cmd, io), file, opts);
    });
}
