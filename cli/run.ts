/**
 * The kboot command line: builds the commander program and runs it with one error policy.
 *
 * Contract (house rules for every command):
 *  - a `KbootError` prints one line `kboot: <message>` on stderr (plus its code and details
 *    with `--verbose`; as JSON on stdout with `--json`) and exits 1;
 *  - a usage error exits 2: commander's (unknown option, missing argument) with its message, and
 *    a command's own `CliError(CLI_USAGE)` (a bad value, options that exclude each other) with
 *    the same one-line form as other KbootErrors;
 *  - anything else is a bug: a one-line bug report and exit 70 (EX_SOFTWARE, sysexits(3)).
 * Commands are registered from cli/commands/*.ts; each receives the global options.
 */
import { Command, CommanderError, Option } from 'commander';
import { join } from 'node:path';
import { isKbootError, jsonSafe } from '../loader/errors.js';
import { readInputText } from '../loader/io/input.js';
import { packageRoot } from '../native/binding.js';
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

/** Builds the program with every command registered. */
export function buildProgram(io: CliIo, extra?: (program: Command) => void): Command {
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
      writeErr: io.err,
      outputError: (text, write) => write(`kboot: ${text.replace(/^error: /, '')}`),
    });
  registerCommands(program, io);
  extra?.(program);
  return program;
}

/**
 * Runs kboot with `argv` (without `node` and the script); resolves to the exit status.
 * `extra` may register more commands (embedders and tests).
 */
export async function runCli(argv: readonly string[], io: CliIo, extra?: (program: Command) => void): Promise<number> {
  const program = buildProgram(io, extra);
  const wantsJson = argv.includes('--json');
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitStatusRequested(program) ?? Exit.Ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        return Exit.Ok;
      if (e.exitCode === 0) return Exit.Ok;
      // commander printed its message on stderr; with --json the error is an object on stdout too
      if (wantsJson) {
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
    if (isKbootError(e)) {
      if (wantsJson) {
        io.out(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
      } else {
        io.err(`kboot: ${e.message}\n`);
        if (verbose) io.err(`  code: ${e.code}\n  details: ${JSON.stringify(jsonSafe(e.details))}\n`);
      }
      return e.code === 'CLI_USAGE' ? Exit.Usage : Exit.Failure;
    }
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
    io.err(`kboot: internal error (a bug; please report it with this line): ${msg.split('\n')[0] ?? ''}\n`);
    if (verbose && e instanceof Error && e.stack !== undefined) io.err(`${e.stack}\n`);
    return Exit.Bug;
  }
}
