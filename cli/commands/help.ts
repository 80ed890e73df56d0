/**
 * `kboot help [COMMAND [SUBCOMMAND]]`: the same text as `kboot COMMAND [SUBCOMMAND] --help`,
 * or kboot's own help without a command. Also `kboot GROUP help [SUBCOMMAND]` for every
 * command that has subcommands (today `dump`).
 *
 * Contract: replaces commander's built-in help command, which only looks one level down
 * (`kboot help dump inspect` printed the help of `dump`) and answered an unknown command with
 * the top-level help and exit status 0. Here the words are looked up level by level; the
 * help is written through the command's own output configuration (`outputHelp`), so it is
 * byte for byte what `--help` prints; an unknown name is a usage error (exit 2, commander's
 * `unknownCommand` code). Must be registered after every command that has subcommands: the
 * groups present at registration get their own `help` subcommand. The manual page
 * man/kboot.8 documents every command and option; test/unit/cli/man.test.ts keeps the two in
 * step.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

/** The command that `names` designate below `from`, or the first name that is not there. */
function lookUp(from: Command, names: readonly string[]): { found: Command } | { unknown: string } {
  let cmd = from;
  for (const [i, name] of names.entries()) {
    const sub = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (sub === undefined) return { unknown: names.slice(0, i + 1).join(' ') };
    cmd = sub;
  }
  return { found: cmd };
}

/** The words that name `cmd` below the program (`[]` for the program itself). */
function pathOf(cmd: Command): string[] {
  return cmd.parent === null ? [] : [...pathOf(cmd.parent), cmd.name()];
}

/** Adds a `help [command...]` subcommand to `group` in place of commander's implicit one. */
function addHelpTo(group: Command): void {
  const path = pathOf(group);
  group.helpCommand(false);
  group
    .command('help')
    .description(
      path.length === 0
        ? 'show help for kboot or a command (the same text as COMMAND --help)'
        : `show help for ${path.join(' ')} or one of its commands (the same text as --help)`,
    )
    .argument('[command...]', path.length === 0 ? 'a command, and a subcommand of it' : 'a command')
    .action((names: string[], _opts: unknown, cmd: Command) => {
      const r = lookUp(group, names);
      if ('unknown' in r) {
        const name = [...path, r.unknown].join(' ');
        cmd.error(`unknown command '${name}'`, { exitCode: 2, code: 'commander.unknownCommand' });
      } else {
        r.found.outputHelp();
      }
    });
}

/** Registers `kboot help` and `kboot GROUP help` for every group registered so far. */
export function registerHelp(program: Command, _io: CliIo): void {
  const groups: Command[] = [];
  const walk = (c: Command): void => {
    for (const sub of c.commands) {
      if (sub.commands.length > 0) {
        groups.push(sub);
        walk(sub);
      }
    }
  };
  walk(program);
  for (const g of groups) addHelpTo(g);
  addHelpTo(program);
}
