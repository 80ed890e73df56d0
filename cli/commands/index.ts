/**
 * The table of kboot's commands and how they are put on the program.
 *
 * Contract: a command is registered through its descriptor (cli/commands/<name>.ts: its name,
 * arguments and options, all commander needs for parsing and --help), never with its action:
 * the action's module (cli/actions/) — and with it the ELF reader, the planner, the emulated
 * machine, the dumper, the addon or the JSON schemas — is imported when the command runs. A
 * descriptor imports only what its options need (commander, cli/choices.ts, a few light
 * constants), and is itself imported only when needed: when the command line names a command
 * of this table, only that command is registered (its parsing, its errors and its --help are
 * the same as with every command present); `kboot --version` needs none; otherwise (`kboot`,
 * `kboot --help`, `kboot help ...`, an unknown name) every command is registered. `help`
 * comes last, as help.ts requires. This is
 * what keeps `kboot --version` and `kboot inspect` starting like system tools (issue 13 item
 * 5; bench/startup.bench.ts, test/e2e/cli/startup.test.ts).
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import { registerHelp } from './help.js';

type Register = (program: Command, io: CliIo) => void;

/** kboot's commands in --help order, each with its descriptor module's registration. */
const COMMANDS: readonly { readonly name: string; readonly load: () => Promise<Register> }[] = [
  { name: 'inspect', load: async () => (await import('./inspect.js')).registerInspect },
  { name: 'plan', load: async () => (await import('./plan.js')).registerPlan },
  { name: 'probe-kernel', load: async () => (await import('./probe-kernel.js')).registerProbeKernel },
  { name: 'exec', load: async () => (await import('./exec.js')).registerExec },
  { name: 'embed', load: async () => (await import('./embed.js')).registerEmbed },
  { name: 'boot', load: async () => (await import('./host.js')).registerBoot },
  { name: 'load', load: async () => (await import('./host.js')).registerLoad },
  { name: 'unload', load: async () => (await import('./host.js')).registerUnload },
  { name: 'status', load: async () => (await import('./host.js')).registerStatus },
  { name: 'panic', load: async () => (await import('./host.js')).registerPanic },
  { name: 'dump', load: async () => (await import('./dump.js')).registerDump },
  { name: 'compare', load: async () => (await import('./compare.js')).registerCompare },
  { name: 'machine', load: async () => (await import('./machine.js')).registerMachine },
  { name: 'demo', load: async () => (await import('./demo.js')).registerDemo },
];

/** The names of every command (for `kboot --help`, tests and the manual page's check). */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

/**
 * The commands `argv` (without node and the script) needs registered: the one it names (the
 * first word that is not an option: kboot's global options take no value), none when it
 * asks for the version before any help, else all of them.
 */
export function commandsNeeded(argv: readonly string[]): readonly string[] {
  const word = argv.find((a) => !a.startsWith('-'));
  if (word !== undefined) return COMMAND_NAMES.includes(word) ? [word] : COMMAND_NAMES;
  const flag = argv.find((a) => ['-V', '--version', '-h', '--help'].includes(a));
  return flag === '-V' || flag === '--version' ? [] : COMMAND_NAMES;
}

/** Adds the commands `argv` needs to `program` (see the module contract). */
export async function registerCommands(program: Command, io: CliIo, argv: readonly string[] = []): Promise<void> {
  const needed = argv.length === 0 ? COMMAND_NAMES : commandsNeeded(argv);
  const wanted = COMMANDS.filter((c) => needed.includes(c.name));
  const registers = await Promise.all(wanted.map((c) => c.load()));
  for (const register of registers) register(program, io);
  // keep last: it adds `help` to every command group registered before it
  registerHelp(program, io);
}
