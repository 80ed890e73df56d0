/**
 * The action of `kboot embed --host KERNEL --rescue RESCUE.ELF -o OUT [--force] [--json]`
 * (descriptor: cli/commands/embed.ts).
 *
 * Contract: writes a host kernel ELF carrying the rescue kernel the way D47358's
 * `makeoptions RESCUE_EMBED=...` does (loader/embed: an `mfs` section inside the host's last
 * PT_LOAD with global `rescue_start`/`rescue_end` symbols), after checking that the rescue
 * kernel passes the rescue lint and matches the host's arch. The output goes through a
 * temporary file (loader/io/output.ts writeNewFile: O_EXCL, an unpredictable name) and never
 * replaces an existing OUT without --force (IO_EXISTS). Prints where the
 * rescue kernel landed (file offset, VA, size).
 */
import { basename, resolve } from 'node:path';
import { hex } from '../../loader/addr.js';
import { embedRescue, extractEmbeddedRescue } from '../../loader/embed/index.js';
import { readInputFile } from '../../loader/io/input.js';
import { writeNewFile } from '../../loader/io/output.js';
import type { ActionContext } from '../context.js';

/** The options of `kboot embed` (cli/commands/embed.ts). */
export interface EmbedOptions {
  host: string;
  rescue: string;
  output: string;
  force?: boolean;
}

/** `kboot embed`: embeds, writes the new host kernel and says where the rescue kernel landed. */
export function runEmbed(ctx: ActionContext, opts: EmbedOptions): void {
  const { io } = ctx;
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
    ctx.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : `wrote ${opts.output}: ${basename(opts.host)} with ${basename(opts.rescue)} embedded (${found.bytes.length} bytes, rescue_start ${report.rescueStart}, rescue_end ${report.rescueEnd})\n`,
  );
}
