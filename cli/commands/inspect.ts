/**
 * `kboot inspect <elf>`: the command's descriptor; its action (cli/actions/inspect.ts, with
 * the ELF reader and the rescue lint) is loaded only when the command runs.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { actionContext } from '../context.js';

/** Registers `kboot inspect`. */
export function registerInspect(program: Command, io: CliIo): void {
  program
    .command('inspect')
    .description("show an ELF kernel's segments and symbols, and whether it can be a rescue kernel")
    .argument('<elf>', 'an ELF64 file for amd64 or arm64')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const { runInspect } = await import('../actions/inspect.js');
      runInspect(actionContext(cmd, io), file);
    });
}
