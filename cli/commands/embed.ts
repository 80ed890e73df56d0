/**
 * `kboot embed --host KERNEL --rescue RESCUE.ELF -o OUT [--force] [--json]`
 *
 * Contract: writes a host kernel ELF carrying the rescue kernel the way D47358's
 * `makeoptions RESCUE_EMBED=...` does (loader/embed: an `mfs` section inside the host's last
 * PT_LOAD with global `rescue_start`/`rescue_end` symbols), after checking that the rescue
 * kernel passes the rescue lint and matches the host's arch. The output goes through a
 * temporary file (loader/io/output.ts writeNewFile: O_EXCL, an unpredictable name) and never
 * replaces an existing OUT without --force (IO_EXISTS). Prints where the
 * rescue kernel landed (file offset, VA, size).
 */
import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { hex } from '../../loader/addr.js';
import { readInputFile } from '../../loader/io/input.js';
import { writeNewFile } from '../../loader/io/output.js';
import type { CliIo } from '../io.js';
import { globalOptions } from '../context.js';

interface EmbedOpts {
  host: string;
  rescue: string;
  output: string;
  force?: boolean;
}

/** Registers `kboot embed`. */
export function registerEmbed(program: Command, io: CliIo): void {
  program
    .command('embed')
    .description('write a host kernel that carries a rescue kernel (RESCUE_EMBED)')
    .requiredOption('--host <kernel>', 'the host kernel ELF')
    .requiredOption('--rescue <elf>', 'the rescue kernel ELF (must pass the rescue lint)')
    .requiredOption('-o, --output <file>', 'the host kernel to write')
    .option('--force', 'replace the output file if it exists')
    .action(async (opts: EmbedOpts, cmd: Command) => {
      const g = globalOptions(cmd);
      const { embedRescue, extractEmbeddedRescue } = await import('../../loader/embed/index.js');
      const host = readInputFile(opts.host, 'kernel', { what: 'host kernel', cwd: io.cwd });
      const rescue = readInputFile(opts.rescue, 'kernel', { what: 'rescue kernel', cwd: io.cwd });
      const out = embedRescue(host, rescue);
      const found = extractEmbeddedRescue(out);
      writeNewFile(resolve(io.cwd, opts.output), out, {
        shown: opts.output,
        replace: opts.force === true,
        what: 'host kernel',
      });
      const report = {
        file: opts.output,
        host: basename(opts.host),
        rescue: basename(opts.rescue),
        size: out.length,
        rescueStart: hex(found.start),
        rescueEnd: hex(found.end),
        rescueBytes: found.bytes.length,
      };
      io.out(
        g.json
          ? `${JSON.stringify(report, null, 2)}\n`
          : `wrote ${opts.output}: ${basename(opts.host)} with ${basename(opts.rescue)} embedded (${found.bytes.length} bytes, rescue_start ${report.rescueStart}, rescue_end ${report.rescueEnd})\n`,
      );
    });
}
