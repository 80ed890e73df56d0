/**
 * Registers every kboot command on the program. One file per command lives beside this.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { registerCompare } from './compare.js';
import { registerDemo } from './demo.js';
import { registerDump } from './dump.js';
import { registerEmbed } from './embed.js';
import { registerExec } from './exec.js';
import { registerHelp } from './help.js';
import { registerHost } from './host.js';
import { registerInspect } from './inspect.js';
import { registerMachine } from './machine.js';
import { registerPlan } from './plan.js';
import { registerProbeKernel } from './probe-kernel.js';

/** Adds all commands to `program`. */
export function registerCommands(program: Command, io: CliIo): void {
  registerInspect(program, io);
  registerPlan(program, io);
  registerProbeKernel(program, io);
  registerExec(program, io);
  registerEmbed(program, io);
  registerHost(program, io);
  registerDump(program, io);
  registerCompare(program, io);
  registerMachine(program, io);
  registerDemo(program, io);
  // keep last: it adds `help` to every command group registered before it
  registerHelp(program, io);
}
