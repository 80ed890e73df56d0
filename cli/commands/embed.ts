/**
 * `kboot embed`: the command's descriptor; its action (cli/actions/embed.ts, with
 * loader/embed) is loaded only when the command runs.
 */
import type { Command } from 'commander';
import type { EmbedOptions } from '../actions/embed.js';
import { actionContext } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot embed`. */
export function registerEmbed(program: Command, io: CliIo): void {
  program
    .command('embed')
    .description('write a host kernel that carries a rescue kernel (RESCUE_EMBED)')
    .requiredOption('--host <kernel>', 'the host kernel ELF')
    .requiredOption('--rescue <elf>', 'the rescue kernel ELF (must pass the rescue lint)')
    .requiredOption('-o, --output <file>', 'the host kernel to write')
    .option('--force', 'replace the output file if it exists')
    .action(async (opts: EmbedOptions, cmd: Command) => {
      const { runEmbed } = await import('../actions/embed.js');
      runEmbed(actionContext(cmd, io), opts);
    });
}
