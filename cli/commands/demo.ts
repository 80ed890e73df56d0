/**
 * `kboot demo`: the command's descriptor; its action (cli/actions/demo.ts, running
 * scenario/demo.ts) is loaded only when the command runs.
 */
import { Option, type Command } from 'commander';
import type { DemoCliOptions } from '../actions/demo.js';
import { ARCH_CHOICES } from '../choices.js';
import { actionContext, endWith } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot demo`. */
export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description(
      'the whole job, every step shown: build a probe rescue kernel, boot, arm with kexec_load, panic, hand off on the CPU, dump, verify the dump, compare the strategies',
    )
    .addOption(new Option('--arch <arch>', 'the architecture (default amd64)').choices(ARCH_CHOICES))
    .option('--out <dir>', 'where the kernel and the dump go (default ./kboot-demo)')
    .action(async (opts: DemoCliOptions, cmd: Command) => {
      const { runDemoCommand } = await import('../actions/demo.js');
      endWith(cmd, await runDemoCommand(actionContext(cmd, io), opts));
    });
}
