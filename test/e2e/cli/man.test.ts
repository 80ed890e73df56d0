// man/kboot.8 against the live command line: `mandoc -T lint` reports nothing; every command
// and subcommand that `kboot --help` (recursively, `kboot CMD --help`) lists has a SYNOPSIS
// line and a COMMANDS entry, and every option of it appears, as `Fl -name` (and `Fl x` for a
// short flag), in both; the global options are in GLOBAL OPTIONS; the page documents no
// command that does not exist. The lists come from the CLI in-process, so adding a command or
// an option without documenting it fails here. Also `kboot help [CMD [SUB]]` and
// `kboot GROUP help [SUB]` print exactly `--help`'s text, and an unknown name exits 2.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { Exit, runCli } from '../../../cli/run.js';
import { packageRoot } from '../../../loader/paths.js';
import { requireTool } from '../../helpers/tools.js';

const MAN = join(packageRoot(), 'man', 'kboot.8');
const page = readFileSync(MAN, 'utf8');

async function run(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const code = await runCli(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

interface Flag {
  /** e.g. `-m` */
  readonly short?: string;
  /** e.g. `--machine` */
  readonly long?: string;
}

interface Help {
  readonly commands: string[];
  readonly options: Flag[];
}

/** The command names and options a commander help text lists. */
function parseHelp(text: string): Help {
  const commands: string[] = [];
  const options: Flag[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    const head = /^(\w[\w ]*):$/.exec(line);
    if (head !== null) {
      section = head[1] ?? '';
      continue;
    }
    // entries start at column 2; wrapped descriptions are indented further
    const entry = /^ {2}(\S+)/.exec(line);
    if (entry === null) continue;
    const first = entry[1] ?? '';
    if (section === 'Commands') commands.push(first);
    if (section === 'Options') {
      const m = /^ {2}(-\w)?(?:, )?(--[\w-]+)?/.exec(line);
      const short = m?.[1];
      const long = m?.[2];
      options.push({ ...(short === undefined ? {} : { short }), ...(long === undefined ? {} : { long }) });
    }
  }
  return { commands, options };
}

interface CommandHelp {
  readonly path: readonly string[];
  readonly help: Help;
  readonly text: string;
}

/** Every command below the program, depth first, with its parsed `--help`. */
async function allCommands(): Promise<{ top: Help; commands: CommandHelp[] }> {
  const top = await run(['--help']);
  const commands: CommandHelp[] = [];
  const visit = async (path: readonly string[]): Promise<void> => {
    const r = await run([...path, '--help']);
    if (r.code !== Exit.Ok) throw new Error(`kboot ${path.join(' ')} --help exited ${r.code}: ${r.err}`);
    const help = parseHelp(r.out);
    commands.push({ path, help, text: r.out });
    for (const sub of help.commands) await visit([...path, sub]);
  };
  const parsed = parseHelp(top.out);
  for (const c of parsed.commands) await visit([c]);
  return { top: parsed, commands };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The mdoc spelling of a flag: `--dump-dir` is `Fl -dump-dir`, `-m` is `Fl m`. */
function flagPattern(flag: string): RegExp {
  return new RegExp(`\\bFl ${escape(flag.slice(1))}(?![\\w-])`);
}

function flagsOf(o: Flag): string[] {
  return [o.short, o.long].filter((f): f is string => f !== undefined);
}

/** The text of section `name` (from `.Sh name` to the next `.Sh`). */
function section(name: string): string {
  const start = page.indexOf(`\n.Sh ${name}\n`);
  if (start < 0) return '';
  const next = page.indexOf('\n.Sh ', start + 1);
  return page.slice(start, next < 0 ? undefined : next);
}

/** SYNOPSIS blocks: each `.Nm` line with the lines that follow it. */
function synopsisBlocks(): string[] {
  return section('SYNOPSIS')
    .split(/\n(?=\.Nm\b)/)
    .filter((b) => b.startsWith('.Nm'));
}

/** The COMMANDS entry of a command: from its `.It Cm PATH` to the next `.It Cm`. */
function commandEntry(path: readonly string[]): string | undefined {
  const text = section('COMMANDS');
  const re = new RegExp(`^\\.It Cm ${escape(path.join(' '))}(?=\\s|$)`, 'm');
  const m = re.exec(text);
  if (m === null) return undefined;
  const rest = text.slice(m.index + m[0].length);
  const next = /^\.It Cm /m.exec(rest);
  return text.slice(m.index, m.index + m[0].length + (next === null ? rest.length : next.index));
}

t.test('mandoc -T lint reports nothing', requireTool('mandoc'), async (t) => {
  const mandoc = spawnSync('mandoc', ['-T', 'lint', MAN], { encoding: 'utf8' });
  t.equal(mandoc.error, undefined);
  t.equal(`${mandoc.stdout}${mandoc.stderr}`, '', 'no lint messages');
  t.equal(mandoc.status, 0, 'exit status 0');
});

t.test('the page has the conventional header and sections', async (t) => {
  t.match(page, /^\.Dd /m);
  t.match(page, /^\.Dt KBOOT 8$/m);
  t.match(page, /^\.Os$/m);
  for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'GLOBAL OPTIONS', 'FILES', 'EXIT STATUS', 'EXAMPLES'])
    t.not(section(s), '', `section ${s}`);
});

t.test('every command and option of the live CLI is in the page', async (t) => {
  const { top, commands } = await allCommands();
  t.ok(commands.length >= 10, `found ${commands.length} commands`);

  const global = section('GLOBAL OPTIONS');
  t.ok(top.options.length >= 4, 'kboot --help lists the global options');
  for (const o of top.options)
    for (const f of flagsOf(o))
      t.match(global, new RegExp(`^\\.It [^\\n]*${flagPattern(f).source}`, 'm'), `global ${f}`);

  const blocks = synopsisBlocks();
  for (const { path, help } of commands) {
    const name = path.join(' ');
    const entry = commandEntry(path);
    if (entry === undefined) {
      t.fail(`COMMANDS has no entry .It Cm ${name}`);
      continue;
    }
    const leaf = help.commands.length === 0;
    const synopsis = blocks.find((b) => new RegExp(`^\\.Cm ${escape(name)}$`, 'm').test(b.split('\n')[1] ?? ''));
    if (leaf) t.ok(synopsis, `SYNOPSIS has a line .Nm / .Cm ${name}`);
    for (const o of help.options) {
      if (o.long === '--help') continue; // a global option, documented once
      for (const f of flagsOf(o)) {
        t.match(entry, flagPattern(f), `${name} ${f} in COMMANDS`);
        if (leaf) t.match(synopsis ?? '', flagPattern(f), `${name} ${f} in SYNOPSIS`);
      }
    }
  }

  // and nothing that is not there
  const live = new Set(commands.map((c) => c.path.join(' ')));
  for (const m of section('COMMANDS').matchAll(/^\.It Cm ([a-z][\w-]*(?: [a-z][\w-]*)*)/gm)) {
    const words = (m[1] ?? '').split(' ');
    // `.It Cm dump inspect Oo ...`: the longest prefix of words that is a command
    const known = words.some((_, i) => live.has(words.slice(0, i + 1).join(' ')));
    t.ok(known, `.It Cm ${m[1] ?? ''} is a command of kboot`);
  }
});

t.test('kboot help COMMAND prints what COMMAND --help prints', async (t) => {
  const panic = await run(['help', 'panic']);
  const direct = await run(['panic', '--help']);
  t.equal(panic.code, Exit.Ok);
  t.equal(panic.out, direct.out, 'kboot help panic = kboot panic --help');
  t.match(panic.out, /--dump-dir/);

  const topHelp = await run(['help']);
  t.equal(topHelp.code, Exit.Ok);
  t.equal(topHelp.out, (await run(['--help'])).out, 'kboot help = kboot --help');

  const { commands } = await allCommands();
  for (const { path, text } of commands) {
    const viaHelp = await run(['help', ...path]);
    t.equal(viaHelp.code, Exit.Ok, `kboot help ${path.join(' ')} exits 0`);
    t.equal(viaHelp.out, text, `kboot help ${path.join(' ')} = kboot ${path.join(' ')} --help`);
    if (path.length === 2) {
      const viaGroup = await run([path[0] ?? '', 'help', path[1] ?? '']);
      t.equal(viaGroup.out, text, `kboot ${path[0] ?? ''} help ${path[1] ?? ''} = --help`);
    }
  }
  t.ok(
    commands.some((c) => c.path.join(' ') === 'dump inspect'),
    'nested commands are reached (kboot help dump inspect)',
  );
});

t.test('kboot help with an unknown name is a usage error', async (t) => {
  for (const args of [
    ['help', 'no-such-command'],
    ['help', 'dump', 'no-such'],
    ['help', 'panic', 'extra'],
    ['dump', 'help', 'no-such'],
  ]) {
    const r = await run(args);
    t.equal(r.code, Exit.Usage, `kboot ${args.join(' ')} exits 2`);
    t.equal(r.out, '', 'nothing on stdout');
    t.match(r.err, /^kboot: unknown command '/, 'one line on stderr');
  }
});
