/**
 * The kboot command line: builds the commander program and runs it with one error policy.
 *
 * Contract (house rules for every command):
 *  - a `KbootError` prints one line `kboot: <message>` on stderr (plus its code and details
 *    with `--verbose`; as JSON on stdout with `--json`) and exits 1;
 *  - a usage error exits 2: commander's (unknown option, missing argument) with its message and
 *    the hint `(run kboot --help for usage)`; a bad value (outside an option's `.choices()`,
 *    refused by its parser) and a command's own `CliError(CLI_USAGE)` (options that exclude
 *    each other) with the same one-line form as other KbootErrors;
 *  - anything else is a bug: a one-line bug report and exit 70 (EX_SOFTWARE, sysexits(3)).
 * Commands are registered from cli/commands/*.ts (descriptors only: each action's module, in
 * cli/actions/, is imported when its command runs); each receives the global options.
 */
import { Command, CommanderError, Option } from 'commander';
import { join } from 'node:path';
import { isKbootError, jsonSafe, type KbootError } from '../loader/errors.js';
import { readInputText } from '../loader/io/input.js';
import { packageRoot } from '../loader/paths.js';
import type { CliIo } from './io.js';
import { Exit, exitStatusRequested } from './context.js';

export { Exit, globalOptions, requestExitStatus, type GlobalOptions } from './context.js';
import { registerCommands } from './commands/index.js';

/** kboot's version, from package.json. */
export function kbootVersion(): string {
  const pkg = JSON.parse(readInputText(join(packageRoot(), 'package.json'), 'package', { what: 'package.json' })) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/**
 * Builds the program with the commands `argv` needs registered (every command when `argv` is
 * empty or names none; see cli/commands/index.ts) and `extra`'s. What commander itself writes
 * on stderr (its errors, help after an error) goes to `commanderErr` (default: io.err).
 */
export async function buildProgram(
  io: CliIo,
  extra?: (program: Command) => void,
  argv: readonly string[] = [],
  commanderErr: (text: string) => void = io.err,
): Promise<Command> {
  const program = new Command();
  program
    .name('kboot')
    .description(
      'Plan, build, deliver and exercise FreeBSD rescue-kernel (crash kernel) hand-offs\n' +
        'for amd64 and arm64, inside an emulated machine.',
    )
    .version(kbootVersion(), '-V, --version', 'print the version and exit')
    .addOption(new Option('--json', 'machine-readable JSON output (errors too)'))
    .addOption(new Option('-v, --verbose', 'more detail, including error codes and details'))
    .helpOption('-h, --help', 'show help for kboot or a command')
    .showHelpAfterError('(run `kboot --help` for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: commanderErr,
      outputError: (text, write) => write(`kboot: ${text.replace(/^error: /, '')}`),
    });
  await registerCommands(program, io, argv);
  extra?.(program);
  return program;
}

/** How the run was asked to report errors. */
interface ErrorStyle {
  readonly json: boolean;
  readonly verbose: boolean;
}

/**
 * A usage error commander found. A bad option value (`.choices()`, an argument parser:
 * `commander.invalidArgument`) is shown like a command's own CLI_USAGE: one line, or with
 * --json only the JSON object; any other keeps commander's text (and the hint after it) on
 * stderr, with --json the object on stdout too.
 */
function commanderFailure(io: CliIo, e: CommanderError, said: string, style: ErrorStyle): number {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
    if (said !== '') io.err(said);
    return Exit.Ok;
  }
  if (e.code === 'commander.invalidArgument') {
    if (!style.json) io.err(`${said.split('\n')[0] ?? ''}\n`);
  } else if (said !== '') {
    io.err(said);
  }
  if (e.exitCode === 0) return Exit.Ok;
  if (style.json) {
    const error = {
      name: 'CliError',
      domain: 'cli',
      code: 'CLI_USAGE',
      message: e.message,
      details: { commander: e.code },
    };
    io.out(`${JSON.stringify({ error }, null, 2)}\n`);
  }
  return Exit.Usage;
}

/** A KbootError: one line (its code and details with --verbose), or the JSON object. */
function kbootFailure(io: CliIo, e: KbootError, style: ErrorStyle): number {
  if (style.json) {
    io.out(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
  } else {
    io.err(`kboot: ${e.message}\n`);
    if (style.verbose) io.err(`  code: ${e.code}\n  details: ${JSON.stringify(jsonSafe(e.details))}\n`);
  }
  return e.code === 'CLI_USAGE' ? Exit.Usage : Exit.Failure;
}

/** Anything else is a bug: one line asking for a report (the stack with --verbose). */
function bug(io: CliIo, e: unknown, style: ErrorStyle): number {
  const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
  io.err(`kboot: internal error (a bug; please report it with this line): ${msg.split('\n')[0] ?? ''}\n`);
  if (style.verbose && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
  return Exit.Bug;
}

/**
 * Runs kboot with `argv` (without `node` and the script); resolves to the exit status.
 * `extra` may register more commands (embedders and tests).
 */
export async function runCli(argv: readonly string[], io: CliIo, extra?: (program: Command) => void): Promise<number> {
  // commander writes only when parsing ends (an error, help after one): held until it is known which
  let said = '';
  const program = await buildProgram(io, extra, argv, (text) => (said += text));
  const style = { json: argv.includes('--json'), verbose: argv.includes('--verbose') || argv.includes('-v') };
  try {
    await program.parseAsync([...argv], { from: 'user' });
    if (said !== '') io.err(said);
    return exitStatusRequested(program) ?? Exit.Ok;
  } catch (e) {
    if (e instanceof CommanderError) return commanderFailure(io, e, said, style);
    if (said !== '') io.err(said);
    if (isKbootError(e)) return kbootFailure(io, e, style);
    return bug(io, e, style);
  }
}
