/**
 * loader.conf(5) parser with the FreeBSD Lua loader's semantics (stand/lua/config.lua,
 * freebsd-src @5a2d3205; stand/defaults/loader.conf.5; stand/libsa/environment.c).
 *
 * Contract: pure. `parseLoaderConf(text, file, opts)` reads one configuration and the files
 * it includes through `opts.resolver` (file access is injected; `loadLoaderConf` in
 * load-file.ts is the fs-backed wrapper) and returns every setting with its file and line.
 * It throws only `ConfigError`, whose `details` carry `file` and `line` (fuzz contract).
 *
 * Line forms (each line is matched after leading white space, in config.lua's table order;
 * the first pattern whose key part matches decides, and whatever follows the value must be
 * white space or a `#` comment, else the line is malformed — CONFIG_SYNTAX):
 *  - `# comment`; blank lines;
 *  - `<key>_<field>=<value>` with `<key>` of `[-A-Za-z0-9_]+` and `<field>` one of load, name,
 *    type, flags, before, after, error: a module setting (never in the environment);
 *  - `exec="<command>"` (quoted only): a loader command, recorded in order, not run;
 *  - `<name>=<value>` with `<name>` of `[A-Za-z0-9][-A-Za-z0-9_.]*`: an environment variable.
 *  `<value>` is `"..."` — greedy, up to the LAST `"` of the line, as Lua's `"(.*)"` — or an
 *  unquoted word `[-A-Za-z0-9][-A-Za-z0-9_.]*`. White space around `=` is allowed.
 *
 * Environment values then go through processEnvVar's rules: `\c` stands for `c`, `$name` and
 * `${name}` expand to the variable's current value (or ""), and a stray `"`, a trailing `\`
 * or `$`, or a malformed `$` expression is an error. FreeBSD prints "Failed to parse
 * variable" and skips the setting; kboot refuses it (CONFIG_BAD_VALUE). So the greedy quote
 * rule's trap, `a="1" # "one"`, is an error. Module values are kept verbatim: the loader's
 * command parser reads them later, and quotes inside them are legal there
 * (`m_flags="name="a b""`); `m_load="YES" # "x"` therefore does not load m, as in FreeBSD,
 * and preloadDecisions warns about a `_load` value that is neither yes nor no.
 *
 * Includes: after a file is read, the `loader_conf_files` value set IN that file (it is reset
 * before each file) names more files, read in order, each once (config.readConf). After the
 * top file and its includes, `loader_conf_dirs` names directories whose `*.conf` files (Lua
 * pattern `.conf$`; sorted by name here, lfs.dir order in FreeBSD) are read too. A missing
 * include is skipped silently, as FreeBSD does (a warning here). kboot confines includes:
 * a relative name resolves against the including file's directory, an absolute one against
 * `opts.absoluteBase` when given (the boot partition's root) or as is, and the result —
 * and, when the resolver reports it, the real path after symlinks — must lie inside
 * `opts.root` (default: the top file's directory), else CONFIG_INCLUDE_ESCAPE. A file that
 * names one of the files being read (a loop) is skipped as FreeBSD does, with a warning, or
 * refused with CONFIG_INCLUDE_LOOP under `includeLoops: 'error'`. Nesting deeper than
 * `maxDepth` is CONFIG_INCLUDE_DEPTH; more files, bytes or line length than the limits is
 * CONFIG_TOO_LARGE.
 *
 * Expansion is bounded (CONFIG_EXPANSION_TOO_LARGE, with the file and line of the setting):
 * FreeBSD's loaders expand with fixed-size buffers or tiny environments — the simple
 * interpreter's parse() keeps one expanded element in PARSE_BUFSIZE (1024) bytes
 * (stand/common/interp_parse.c), and the kernel drops boot-environment strings longer than
 * KENV_MNAMELEN + KENV_MVALLEN + 2 (258) bytes and keeps at most KENV_SIZE (512) of them
 * (sys/sys/kenv.h, sys/kern/kern_environment.c) — while Lua's strings are unbounded, so a
 * few hundred bytes of variables that expand each other can ask for gigabytes. kboot's
 * bounds are far above anything a real loader passes on: a value expands to at most
 * `maxValueLength` characters (default 64 Ki, the longest line), references chain at most
 * `maxExpansionDepth` deep (default 16: `b="$a"` is depth 1, `c="$b"` depth 2), and all
 * variables together hold at most `maxEnvBytes` characters (default 4 Mi). Lengths are
 * checked before a value is built, so a bomb never allocates.
 *
 * Environment: a variable set twice keeps its first position and its last value (env_setenv
 * replaces in place). `loader_conf_files` never enters the environment (config.lua's
 * loader_env_restricted_table). Line numbers count every line; FreeBSD's "Malformed line (n)"
 * counts only non-empty ones.
 */
import { posix } from 'node:path';
import { hex } from '../addr.js';
import { ConfigCode, ConfigError, isKbootError } from '../errors.js';

/** Where a setting came from. */
export interface ConfSource {
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
}

/** The module-setting suffixes of loader.conf(5), in config.lua's pattern order. */
export const MODULE_FIELDS = ['load', 'name', 'type', 'flags', 'before', 'after', 'error'] as const;
/** One module-setting suffix. */
export type ModuleField = (typeof MODULE_FIELDS)[number];

/** A piece of an environment value: literal text or a `$name` / `${name}` reference. */
export type ValuePart =
  { readonly kind: 'text'; readonly text: string } | { readonly kind: 'var'; readonly name: string };

/** One meaningful line (comments and blank lines are dropped). */
export type ConfLine =
  | {
      readonly kind: 'module';
      readonly key: string;
      readonly field: ModuleField;
      readonly value: string;
      readonly quoted: boolean;
      readonly source: ConfSource;
    }
  | { readonly kind: 'exec'; readonly command: string; readonly source: ConfSource }
  | {
      readonly kind: 'env';
      readonly name: string;
      /** The value as written (inside the quotes). */
      readonly raw: string;
      readonly parts: readonly ValuePart[];
      readonly quoted: boolean;
      readonly source: ConfSource;
    };

/** A value with the place it was set. */
export interface ConfSetting {
  readonly value: string;
  readonly source: ConfSource;
}

/** An environment variable after evaluation (last value, first position). */
export interface ConfEnvVar extends ConfSetting {
  readonly name: string;
}

/** Every setting of one module prefix (`<key>_load`, `<key>_name`, ...); later lines win. */
export interface ModuleConf {
  readonly key: string;
  /** Where the key first appeared (module order follows it). */
  readonly firstSource: ConfSource;
  readonly settings: { readonly [F in ModuleField]?: ConfSetting };
}

/** An `exec="..."` line. */
export interface ConfExec {
  readonly command: string;
  readonly source: ConfSource;
}

/** Something FreeBSD tolerates silently that the user may want to know. */
export interface ConfWarning {
  readonly code: 'INCLUDE_MISSING' | 'INCLUDE_LOOP' | 'CONF_DIR_MISSING';
  readonly message: string;
  readonly path: string;
  readonly source?: ConfSource;
}

/** A parsed configuration with everything it included. */
export interface LoaderConf {
  /** Files read, in the order they were read (the top file first). */
  readonly files: readonly string[];
  /** Environment variables set, in first-set order (loader_conf_files excluded). */
  readonly env: readonly ConfEnvVar[];
  /** Module settings, in order of each key's first appearance. */
  readonly modules: readonly ModuleConf[];
  readonly execs: readonly ConfExec[];
  readonly warnings: readonly ConfWarning[];
}

/** What a resolver returns for a file that exists. */
export interface ConfFileText {
  readonly text: string;
  /** Where the file really is (symlinks resolved), when the resolver knows; checked against `realRoot`. */
  readonly realPath?: string;
}

/** File access for includes, injected so the parser stays pure and testable. */
export interface ConfResolver {
  /** The file's text, or undefined when it does not exist. May throw ConfigError (unreadable, too large). */
  read(path: string): ConfFileText | undefined;
  /** Names of the regular files in `dir` (for loader_conf_dirs), or undefined when it is not a directory. */
  listFiles?(dir: string): readonly string[] | undefined;
}

/** Bounds on what the parser reads. */
export interface LoaderConfLimits {
  /** Largest file, in UTF-16 code units of its text (about bytes for ASCII); default 1 MiB. */
  readonly maxFileBytes: number;
  /** Longest line; default 64 KiB. */
  readonly maxLineLength: number;
  /** Most files read in total; default 256. */
  readonly maxFiles: number;
  /** Deepest include nesting (the top file is depth 0); default 16. */
  readonly maxDepth: number;
  /** Longest value after `$` expansion, in UTF-16 code units; default 64 Ki (maxLineLength). */
  readonly maxValueLength: number;
  /** Longest chain of variables expanding variables (`b="$a"` is 1); default 16. */
  readonly maxExpansionDepth: number;
  /** Most characters all environment variables hold together after expansion; default 4 Mi. */
  readonly maxEnvBytes: number;
}

/** Default limits. */
export const DEFAULT_LOADER_CONF_LIMITS: LoaderConfLimits = Object.freeze({
  maxFileBytes: 1 << 20,
  maxLineLength: 1 << 16,
  maxFiles: 256,
  maxDepth: 16,
  maxValueLength: 1 << 16,
  maxExpansionDepth: 16,
  maxEnvBytes: 4 << 20,
});

/** Options of parseLoaderConf. */
export interface LoaderConfOptions {
  /** Reads included files; without one, every include counts as missing. */
  readonly resolver?: ConfResolver;
  /** Includes must stay inside this directory; default the top file's directory. */
  readonly root?: string;
  /** `root` with symlinks resolved, to check resolvers' `realPath`s against; default `root`. */
  readonly realRoot?: string;
  /** Absolute include names are taken relative to this directory (the boot partition's root). */
  readonly absoluteBase?: string;
  /** The loader's environment before the configuration ($-expansion reads it). */
  readonly initialEnv?: readonly (readonly [string, string])[];
  /** What to do when a file names one of the files being read: FreeBSD skips it (default). */
  readonly includeLoops?: 'skip' | 'error';
  readonly limits?: Partial<LoaderConfLimits>;
}

/** Variables that never reach the environment (config.lua loader_env_restricted_table). */
export const RESTRICTED_ENV = ['loader_conf_files'] as const;

/** The variable naming more configuration files. */
const CONF_FILES = 'loader_conf_files';
/** The variable naming directories of `*.conf` files (top level only). */
const CONF_DIRS = 'loader_conf_dirs';

// Lua's character classes in the C locale (config.lua patterns): %s, %w, and the three
// captures MODULEEXPR, WORDEXPR and the environment-variable name.
const SP = '[ \\t\\n\\v\\f\\r]*';
const MODULE_KEY = '([-A-Za-z0-9_]+)';
const WORD = '([-A-Za-z0-9][-A-Za-z0-9_.]*)';
const QVAL = '"(.*)"';
const ENV_NAME = '([A-Za-z0-9][-A-Za-z0-9_.]*)';
const rx = (body: string): RegExp => new RegExp(`^${SP}${body}${SP}(.*)$`, 's');

interface Pattern {
  readonly kind: 'comment' | 'module' | 'exec' | 'env';
  readonly field?: ModuleField;
  /** Tried in order; the first that matches decides for this row. */
  readonly variants: readonly { readonly re: RegExp; readonly quoted: boolean }[];
}

const twoWays = (head: string): Pattern['variants'] => [
  { re: rx(`${head}${SP}=${SP}${QVAL}`), quoted: true },
  { re: rx(`${head}${SP}=${SP}${WORD}`), quoted: false },
];

/** config.lua's pattern_table, in its order. */
const PATTERNS: readonly Pattern[] = [
  { kind: 'comment', variants: [{ re: rx('(#.*)'), quoted: false }] },
  ...MODULE_FIELDS.map((field): Pattern => ({ kind: 'module', field, variants: twoWays(`${MODULE_KEY}_${field}`) })),
  { kind: 'exec', variants: [{ re: rx(`exec${SP}=${SP}${QVAL}`), quoted: true }] },
  { kind: 'env', variants: twoWays(ENV_NAME) },
];

const BLANK = new RegExp(`^${SP}$`, 's');
const TRAILER_OK = new RegExp(`^${SP}(#.*)?$`, 's');
/** `$name` (config.lua `^([%w][-%w%d_.]*)`), matched where it starts (sticky). */
const VAR_NAME = /[A-Za-z0-9][-A-Za-z0-9_.]*/y;

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function syntaxError(source: ConfSource, text: string, why: string): ConfigError {
  return new ConfigError(
    ConfigCode.Syntax,
    `config: ${source.file}:${source.line}: malformed line (${why}; ${hex(text.length)} chars: ${JSON.stringify(clip(text))})`,
    { file: source.file, line: source.line, text: clip(text), reason: why },
  );
}

function badValue(source: ConfSource, what: string, value: string, position: number): ConfigError {
  return new ConfigError(
    ConfigCode.BadValue,
    `config: ${source.file}:${source.line}: ${what} (at position ${position} of ${JSON.stringify(clip(value))})`,
    { file: source.file, line: source.line, value: clip(value), position },
  );
}

/**
 * Splits an environment value into literal text and variable references (processEnvVar in
 * config.lua). Positions in errors are 1-based, as Lua reports them.
 */
export function parseEnvValue(value: string, source: ConfSource): ValuePart[] {
  const parts: ValuePart[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < value.length) {
    const c = value.charAt(i);
    if (c === '\\') {
      if (i === value.length - 1) throw badValue(source, 'stray escape at end of value', value, i + 1);
      text += value.charAt(i + 1);
      i += 2;
    } else if (c === '"') {
      throw badValue(source, 'stray quote in value', value, i + 1);
    } else if (c === '$') {
      if (i === value.length - 1) throw badValue(source, 'unescaped $ at end of value', value, i + 1);
      let name: string;
      if (value.charAt(i + 1) === '{') {
        const close = value.indexOf('}', i + 2);
        if (close <= i + 2) throw badValue(source, 'malformed variable expression', value, i + 1);
        name = value.slice(i + 2, close);
        i = close + 1;
      } else {
        VAR_NAME.lastIndex = i + 1;
        const m = VAR_NAME.exec(value);
        if (m === null) throw badValue(source, 'malformed variable expression', value, i + 1);
        name = m[0];
        i += 1 + name.length;
      }
      flush();
      parts.push({ kind: 'var', name });
    } else {
      text += c;
      i++;
    }
  }
  flush();
  return parts;
}

function expansionTooLarge(
  source: ConfSource,
  name: string,
  kind: 'value' | 'depth' | 'environment',
  amount: number,
  limit: number,
): ConfigError {
  const what =
    kind === 'value'
      ? `${name} expands to ${hex(amount)} characters (limit ${hex(limit)})`
      : kind === 'depth'
        ? `${name} expands variables ${amount} levels deep (limit ${limit})`
        : `setting ${name} makes the environment ${hex(amount)} characters (limit ${hex(limit)})`;
  return new ConfigError(ConfigCode.ExpansionTooLarge, `config: ${source.file}:${source.line}: ${what}`, {
    file: source.file,
    line: source.line,
    name,
    kind,
    [kind === 'depth' ? 'depth' : 'length']: amount,
    limit,
  });
}

function limitsOf(opts: LoaderConfOptions): LoaderConfLimits {
  return { ...DEFAULT_LOADER_CONF_LIMITS, ...(opts.limits ?? {}) };
}

function tooLarge(message: string, details: Record<string, unknown>): ConfigError {
  return new ConfigError(ConfigCode.TooLarge, `config: ${message}`, details);
}

/**
 * Classifies every line of one file (no includes, no expansion). Throws CONFIG_SYNTAX,
 * CONFIG_BAD_VALUE (a bad `$`/escape/quote) or CONFIG_TOO_LARGE (a line over the limit).
 */
export function parseLoaderConfLines(text: string, file: string, limits: Partial<LoaderConfLimits> = {}): ConfLine[] {
  const maxLine = limits.maxLineLength ?? DEFAULT_LOADER_CONF_LIMITS.maxLineLength;
  const out: ConfLine[] = [];
  const lines = text.split('\n');
  lines.forEach((lineText, idx) => {
    const source: ConfSource = { file, line: idx + 1 };
    if (lineText.length > maxLine) {
      throw tooLarge(`${file}:${idx + 1}: line too long (${hex(lineText.length)} chars, limit ${hex(maxLine)})`, {
        file,
        line: idx + 1,
        length: lineText.length,
        limit: maxLine,
      });
    }
    if (BLANK.test(lineText)) return;
    for (const p of PATTERNS) {
      let m: RegExpExecArray | null = null;
      let quoted = false;
      for (const v of p.variants) {
        m = v.re.exec(lineText);
        if (m !== null) {
          quoted = v.quoted;
          break;
        }
      }
      if (m === null) continue;
      if (p.kind === 'comment') return;
      const trailer = (p.kind === 'exec' ? m[2] : m[3]) ?? '';
      if (!TRAILER_OK.test(trailer)) throw syntaxError(source, lineText, 'text after the value is not a comment');
      const key = m[1] ?? '';
      const value = m[2] ?? '';
      switch (p.kind) {
        case 'module':
          out.push({ kind: 'module', key, field: p.field ?? 'load', value, quoted, source });
          return;
        case 'exec':
          out.push({ kind: 'exec', command: key, source });
          return;
        case 'env':
          out.push({ kind: 'env', name: key, raw: value, parts: parseEnvValue(value, source), quoted, source });
          return;
      }
    }
    throw syntaxError(source, lineText, 'no loader.conf form matches');
  });
  return out;
}

interface MutableModule {
  readonly key: string;
  readonly firstSource: ConfSource;
  settings: { [F in ModuleField]?: ConfSetting };
}

/** True when `p` lies inside directory `root` (both normalized POSIX paths). */
function inside(root: string, p: string): boolean {
  const rel = posix.relative(root, p);
  return !(rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel));
}

/** Tokens of a file list: runs of printable, non-space ASCII (Lua `[%w%p]+`). */
function listTokens(value: string): string[] {
  return value.match(/[!-~]+/g) ?? [];
}

/** One parse's state: the options, what was read so far, and the environment being built. */
interface ConfReader {
  readonly text: string;
  readonly opts: LoaderConfOptions;
  readonly limits: LoaderConfLimits;
  /** Includes must resolve inside it. */
  readonly root: string;
  /** Real paths (after symlinks) must lie inside it. */
  readonly realRoot: string;
  readonly absoluteBase: string | undefined;
  readonly loops: 'skip' | 'error';
  readonly envOrder: string[];
  readonly env: Map<string, ConfEnvVar>;
  readonly initial: Map<string, string>;
  readonly modules: Map<string, MutableModule>;
  readonly execs: ConfExec[];
  readonly warnings: ConfWarning[];
  /** Files read, in order. */
  readonly files: string[];
  /** Files read or tried (config.readConf marks a file read even when it could not be opened). */
  readonly loaded: Set<string>;
  /** The include chain being read. */
  readonly chain: string[];
  /** How deep each variable's value chains other variables (0: literal or from the initial env). */
  readonly depths: Map<string, number>;
  /** Characters held by all variables. */
  envChars: number;
}

/**
 * Parses a loader.conf and the files it includes (see the module contract). `file` names
 * the text in errors and is the base for relative includes.
 */
export function parseLoaderConf(text: string, file: string, opts: LoaderConfOptions = {}): LoaderConf {
  const top = posix.normalize(file);
  const root = posix.normalize(opts.root ?? posix.dirname(top));
  const initial = new Map<string, string>(opts.initialEnv ?? []);
  const r: ConfReader = {
    text,
    opts,
    limits: limitsOf(opts),
    root,
    realRoot: posix.normalize(opts.realRoot ?? root),
    absoluteBase: opts.absoluteBase === undefined ? undefined : posix.normalize(opts.absoluteBase),
    loops: opts.includeLoops ?? 'skip',
    envOrder: [],
    env: new Map(),
    initial,
    modules: new Map(),
    execs: [],
    warnings: [],
    files: [],
    loaded: new Set(),
    chain: [],
    depths: new Map(),
    envChars: [...initial.values()].reduce((n, v) => n + v.length, 0),
  };
  readConf(r, top, 0, undefined);
  return Object.freeze({
    files: Object.freeze(r.files),
    env: Object.freeze(r.envOrder.map((n) => r.env.get(n)).filter((v): v is ConfEnvVar => v !== undefined)),
    modules: Object.freeze(
      [...r.modules.values()].map((m) =>
        Object.freeze({ key: m.key, firstSource: m.firstSource, settings: m.settings }),
      ),
    ),
    execs: Object.freeze(r.execs),
    warnings: Object.freeze(r.warnings),
  });
}

/** A variable's current value: set by the configuration, else the initial environment, else "". */
function getenv(r: ConfReader, name: string): string {
  return r.env.get(name)?.value ?? r.initial.get(name) ?? '';
}

/** An env line's value after `$` expansion, bounded (see the module contract) before it is built. */
function expand(r: ConfReader, l: Extract<ConfLine, { kind: 'env' }>): { value: string; depth: number } {
  let length = 0;
  let depth = 0;
  for (const p of l.parts) {
    if (p.kind === 'text') length += p.text.length;
    else {
      length += getenv(r, p.name).length;
      depth = Math.max(depth, (r.depths.get(p.name) ?? 0) + 1);
    }
  }
  if (depth > r.limits.maxExpansionDepth) {
    throw expansionTooLarge(l.source, l.name, 'depth', depth, r.limits.maxExpansionDepth);
  }
  if (length > r.limits.maxValueLength) {
    throw expansionTooLarge(l.source, l.name, 'value', length, r.limits.maxValueLength);
  }
  return { value: l.parts.map((p) => (p.kind === 'text' ? p.text : getenv(r, p.name))).join(''), depth };
}

/** CONFIG_INCLUDE_ESCAPE: an include resolves (or its real path lies) outside the root. */
function includeEscape(r: ConfReader, name: string, resolved: string, via: ConfSource, real?: string): ConfigError {
  return new ConfigError(
    ConfigCode.IncludeEscape,
    `config: ${via.file}:${via.line}: include ${JSON.stringify(name)} resolves outside the configuration directory (${real === undefined ? resolved : `${resolved} -> ${real}`}, root ${r.root})`,
    {
      file: via.file,
      line: via.line,
      include: name,
      resolved,
      ...(real === undefined ? {} : { realPath: real }),
      root: r.root,
    },
  );
}

/** An include name as a path: relative to the including file, absolute under `absoluteBase`, inside the root. */
function resolveName(r: ConfReader, name: string, from: string, via: ConfSource): string {
  const joined = name.startsWith('/')
    ? r.absoluteBase === undefined
      ? name
      : posix.join(r.absoluteBase, name)
    : posix.join(posix.dirname(from), name);
  const resolved = posix.normalize(joined);
  if (!inside(r.root, resolved)) throw includeEscape(r, name, resolved, via);
  return resolved;
}

/** Runs the injected resolver; anything it throws but a ConfigError becomes CONFIG_UNREADABLE. */
function callResolver<T>(what: string, path: string, via: ConfSource | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const where = via === undefined ? '' : `${via.file}:${via.line}: `;
    throw new ConfigError(
      ConfigCode.Unreadable,
      `config: ${where}cannot ${what} ${path} (${isKbootError(e) || e instanceof Error ? e.message : String(e)})`,
      { path, ...(via === undefined ? {} : { file: via.file, line: via.line }) },
      { cause: e },
    );
  }
}

/** Applies one file's lines in order; returns the `loader_conf_files` it set, if any. */
function evaluate(r: ConfReader, lines: readonly ConfLine[]): ConfSetting | undefined {
  let confFiles: ConfSetting | undefined;
  for (const l of lines) {
    switch (l.kind) {
      case 'module': {
        let m = r.modules.get(l.key);
        if (m === undefined) {
          m = { key: l.key, firstSource: l.source, settings: {} };
          r.modules.set(l.key, m);
        }
        m.settings[l.field] = { value: l.value, source: l.source };
        break;
      }
      case 'exec':
        r.execs.push({ command: l.command, source: l.source });
        break;
      case 'env': {
        const { value, depth } = expand(r, l);
        if (l.name === CONF_FILES) {
          confFiles = { value, source: l.source };
          break;
        }
        setEnv(r, l, value, depth);
        break;
      }
    }
  }
  return confFiles;
}

/** env_setenv: first position, last value, within `maxEnvBytes` for all variables together. */
function setEnv(r: ConfReader, l: Extract<ConfLine, { kind: 'env' }>, value: string, depth: number): void {
  const total = r.envChars - getenv(r, l.name).length + value.length;
  if (total > r.limits.maxEnvBytes) {
    throw expansionTooLarge(l.source, l.name, 'environment', total, r.limits.maxEnvBytes);
  }
  r.envChars = total;
  r.depths.set(l.name, depth);
  if (!r.env.has(l.name)) r.envOrder.push(l.name);
  r.env.set(l.name, { name: l.name, value, source: l.source });
}

/** config.readConf: one file, then the files it names in loader_conf_files, then (top only) loader_conf_dirs. */
function readConf(r: ConfReader, path: string, depth: number, via: ConfSource | undefined, given?: string): void {
  if (r.loaded.has(path)) {
    if (r.chain.includes(path)) includeLoop(r, path, via);
    return;
  }
  checkIncludeBounds(r, path, depth, via);
  const body = readBody(r, path, depth, via, given);
  if (body === undefined) return;
  r.loaded.add(path);
  r.files.push(path);
  r.chain.push(path);
  const confFiles = evaluate(r, parseLoaderConfLines(body, path, r.limits));
  if (confFiles !== undefined) {
    for (const name of listTokens(confFiles.value)) {
      readConf(r, resolveName(r, name, path, confFiles.source), depth + 1, confFiles.source, name);
    }
  }
  if (depth === 0) readConfDirs(r, path, depth);
  r.chain.pop();
}

/** A file that names one being read: skipped with a warning, as FreeBSD does, or CONFIG_INCLUDE_LOOP. */
function includeLoop(r: ConfReader, path: string, via: ConfSource | undefined): void {
  const at = via ?? { file: path, line: 0 };
  if (r.loops === 'error') {
    throw new ConfigError(
      ConfigCode.IncludeLoop,
      `config: ${at.file}:${at.line}: include loop (${[...r.chain, path].join(' -> ')})`,
      { file: at.file, line: at.line, chain: [...r.chain, path] },
    );
  }
  r.warnings.push({
    code: 'INCLUDE_LOOP',
    message: `include loop skipped, as FreeBSD reads each file once: ${[...r.chain, path].join(' -> ')}`,
    path,
    ...(via === undefined ? {} : { source: via }),
  });
}

/** CONFIG_INCLUDE_DEPTH past `maxDepth`, CONFIG_TOO_LARGE past `maxFiles`. */
function checkIncludeBounds(r: ConfReader, path: string, depth: number, via: ConfSource | undefined): void {
  const at = via ?? { file: path, line: 0 };
  if (depth > r.limits.maxDepth) {
    throw new ConfigError(
      ConfigCode.IncludeDepth,
      `config: ${at.file}:${at.line}: includes nested too deep (depth ${hex(depth)}, limit ${hex(r.limits.maxDepth)}: ${[...r.chain, path].join(' -> ')})`,
      { file: at.file, line: at.line, depth, limit: r.limits.maxDepth, chain: [...r.chain, path] },
    );
  }
  if (r.files.length >= r.limits.maxFiles) {
    throw tooLarge(`${at.file}:${at.line}: too many configuration files (limit ${hex(r.limits.maxFiles)})`, {
      file: at.file,
      line: at.line,
      limit: r.limits.maxFiles,
    });
  }
}

/** The text of the top file or of an include (undefined: missing, skipped with a warning), bounded. */
function readBody(
  r: ConfReader,
  path: string,
  depth: number,
  via: ConfSource | undefined,
  given: string | undefined,
): string | undefined {
  let body: string;
  if (depth === 0) {
    body = r.text;
  } else {
    const resolver = r.opts.resolver;
    const got = resolver === undefined ? undefined : callResolver('read', path, via, () => resolver.read(path));
    r.loaded.add(path); // config.readConf marks a file read even when it could not be opened
    if (got === undefined) {
      r.warnings.push({
        code: 'INCLUDE_MISSING',
        message: `include ${path} does not exist (skipped, as FreeBSD does)`,
        path,
        ...(via === undefined ? {} : { source: via }),
      });
      return undefined;
    }
    if (got.realPath !== undefined && via !== undefined && !inside(r.realRoot, posix.normalize(got.realPath))) {
      throw includeEscape(r, given ?? path, path, via, got.realPath);
    }
    body = got.text;
  }
  if (body.length > r.limits.maxFileBytes) {
    const at = via ?? { file: path, line: 0 };
    throw tooLarge(
      `${at.file}:${at.line}: ${path} is too large (${hex(body.length)} chars, limit ${hex(r.limits.maxFileBytes)})`,
      { file: at.file, line: at.line, path, length: body.length, limit: r.limits.maxFileBytes },
    );
  }
  return body;
}

/** loader_conf_dirs: each directory's `*.conf` files, sorted by name; a missing one is a warning. */
function readConfDirs(r: ConfReader, path: string, depth: number): void {
  const dirs = r.env.get(CONF_DIRS);
  if (dirs === undefined) return;
  for (const name of listTokens(dirs.value)) {
    const dir = resolveName(r, name, path, dirs.source);
    const resolver = r.opts.resolver;
    const list =
      resolver?.listFiles === undefined
        ? undefined
        : callResolver('list', dir, dirs.source, () => resolver.listFiles?.(dir));
    if (list === undefined) {
      r.warnings.push({
        code: 'CONF_DIR_MISSING',
        message: `loader_conf_dirs entry ${dir} is not a directory (skipped, as FreeBSD does)`,
        path: dir,
        source: dirs.source,
      });
      continue;
    }
    const confs = [...list].filter((n) => /.conf$/s.test(n) && !n.includes('/')).sort();
    for (const n of confs) readConf(r, posix.join(dir, n), depth + 1, dirs.source, n);
  }
}

/** The value of an environment variable the configuration set, if any. */
export function confEnv(conf: LoaderConf, name: string): string | undefined {
  return conf.env.find((v) => v.name === name)?.value;
}
