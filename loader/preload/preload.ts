/**
 * preloadDecisions(conf): what a FreeBSD boot loader decides from a parsed loader.conf —
 * the kernel to try, the modules to preload (the rescue kernel among them, as a raw file of
 * type `rescue_kernel`) in order, and the kernel environment — so that kboot, acting as the
 * loader, can load them and write modinfo and kenv. Pure: no file is opened.
 *
 * Semantics (freebsd-src stand/lua/config.lua loadModule/loadKernel, stand/common/module.c
 * command_load/file_search/mod_load, stand/libsa/environment.c, stand/defaults/loader.conf):
 *  - a module is loaded when its `<key>_load` is "yes" in any case; its name is `<key>_name`
 *    or the key. With `<key>_type` the loader runs `load -t <type> <name>` (file_loadraw: a
 *    raw file of that type, no arguments); without, `load <name> <flags>` (a KLD; its flags
 *    become MODINFO_ARGS). Type and flags together make `load` fail ("invalid load type"):
 *    kboot refuses that (CONFIG_INVALID, with the file and line of the flags setting).
 *  - `<key>_before` / `<key>_after` are loader commands run before the load and after a
 *    successful one; `<key>_error` runs when the load fails. kboot does not run commands:
 *    a `load` command among them becomes a module load at that place in the order (this is
 *    how loader.conf orders loads), any other command is kept as a step that was not run.
 *    `exec="..."` lines are kept the same way, before everything else (they run while the
 *    configuration is read).
 *  - module order: the order in which each key first appears in the configuration. Lua's
 *    `pairs()` gives no order; the Forth loader (support.4th) loads in file order
 *    (UNVERIFIED); kboot uses file order so the result is deterministic.
 *  - names in `module_blacklist` (tokens of `[-A-Za-z0-9_]+`) are not loaded; a second load
 *    of the same file and type is skipped ("already loaded").
 *  - kernel: with `kernel=K`, bootfile names (`bootfile` split on `;`, then "kernel") are
 *    tried in `/boot/K`, then in `K`, then K itself as a file; the directory that worked is
 *    prepended to module_path. Without `kernel`, the bootfile names are searched on
 *    module_path. Names without a `/` are tried with the KLD extensions `.ko`, none, `.debug`.
 *    `kernel_options` are the kernel's arguments.
 *  - kenv: every variable the configuration set except loader_conf_files (plus
 *    `opts.initialEnv`), sorted by name as the loader's environment is (env_setenv inserts in
 *    strcmp order; md_copyenv walks it in that order). So `debug.rescue_minidump="1"` is a
 *    tunable the host kernel sees.
 * Errors: ConfigError only — CONFIG_INVALID (type with flags, two rescue kernels, a bad
 * `load` command), CONFIG_BAD_VALUE (unbalanced quotes in flags or a command).
 */
import assert from 'node:assert/strict';
import { hex } from '../addr.js';
import { ConfigCode, ConfigError } from '../errors.js';
import { KENV_MAX_ENTRY_BYTES, KENV_SIZE, type KenvEntry } from '../handoff/kenv.js';
import type { PreloadedModule } from '../handoff/modinfo.js';
import type { ConfSetting, ConfSource, ConfWarning, LoaderConf, ModuleConf } from './loader-conf.js';

/**
 * Module type of a rescue kernel preloaded by the boot loader (`rescue_type="rescue_kernel"`).
 * A kboot convention: D47358 only embeds the rescue kernel (RESCUE_EMBED); the host model
 * finds a preloaded one with preload_search_by_type of this type.
 */
export const RESCUE_KERNEL_MODULE_TYPE = 'rescue_kernel';
/** File-name extensions mod_load tries for a KLD, in order (stand/common/module.c kld_ext_list). */
export const KLD_EXTENSIONS = ['.ko', '', '.debug'] as const;
/** module_path when none is set (stand/common/module.c default_searchpath, non-FDT builds). */
export const DEFAULT_MODULE_PATH: readonly string[] = ['/boot/kernel', '/boot/modules'];
/** The bootfile name config.lua always tries last. */
export const DEFAULT_BOOTFILE = 'kernel';

/** One file the loader will load as a module. */
export interface PreloadModule {
  /** The loader.conf prefix, or for a `load` in a command, the prefix whose command it is. */
  readonly key: string;
  /** What `load` is given: a name searched on module_path, or a path (when it holds a `/`). */
  readonly name: string;
  /** 'raw': `load -t <type> <name>`; 'kld': `load <name> <args>`. */
  readonly kind: 'raw' | 'kld';
  /** The module type for raw files (MODINFO_TYPE); a KLD's type comes from its ELF. */
  readonly type?: string;
  /** MODINFO_ARGS: the flags as the loader's parser splits them, joined by single spaces. */
  readonly args?: string;
  /** The `<key>_error` command FreeBSD runs when the load fails. */
  readonly onError?: string;
  /** Why it is loaded: its own `_load` setting, or a `load` in a `_before`/`_after` command. */
  readonly via: 'setting' | 'before' | 'after';
  readonly source: ConfSource;
  /** True when `type` is RESCUE_KERNEL_MODULE_TYPE. */
  readonly rescueKernel: boolean;
}

/** One thing the loader does, in order. */
export type PreloadStep =
  | { readonly kind: 'exec'; readonly command: string; readonly source: ConfSource }
  | { readonly kind: 'load-kernel' }
  | {
      readonly kind: 'command';
      readonly phase: 'before' | 'after';
      readonly key: string;
      readonly command: string;
      readonly source: ConfSource;
    }
  | { readonly kind: 'load-module'; readonly module: PreloadModule };

/** A place the kernel may be found, in the order the loader tries them. */
export interface KernelCandidate {
  readonly path: string;
  /** The directory the loader prepends to module_path when this candidate loads. */
  readonly moduleDir?: string;
}

/** How the loader finds the kernel. */
export interface KernelDecision {
  /** The `kernel` variable (a directory under /boot, or a file). */
  readonly kernel?: ConfSetting;
  /** Bootfile names tried, in order. */
  readonly bootfiles: readonly string[];
  readonly candidates: readonly KernelCandidate[];
  /** kernel_options, as the kernel's MODINFO_ARGS. */
  readonly args?: string;
}

/** A module setting that does not lead to a load. */
export interface SkippedModule {
  readonly key: string;
  readonly name: string;
  readonly reason: 'not-enabled' | 'blacklisted' | 'already-loaded';
  readonly source: ConfSource;
}

/** Something the user should know that does not stop the boot. */
export interface PreloadWarning {
  readonly code:
    ConfWarning['code'] | 'KENV_TOO_LONG' | 'KENV_TOO_MANY' | 'RESCUE_NOT_ENABLED' | 'COMMAND_NOT_RUN' | 'LOAD_VALUE';
  readonly message: string;
  readonly source?: ConfSource;
}

/** The boot loader's decisions for one configuration. */
export interface BootDecisions {
  readonly kernel: KernelDecision;
  /** module_path entries (before the kernel's directory is prepended). */
  readonly modulePath: readonly string[];
  /** Modules in load order. */
  readonly modules: readonly PreloadModule[];
  /** The module of type rescue_kernel, if any (at most one). */
  readonly rescueKernel?: PreloadModule;
  readonly steps: readonly PreloadStep[];
  /** The kernel environment, sorted by name. */
  readonly kenv: readonly KenvEntry[];
  readonly skipped: readonly SkippedModule[];
  readonly warnings: readonly PreloadWarning[];
}

/** Options of preloadDecisions. */
export interface PreloadOptions {
  /** Variables the loader itself set before the configuration (they reach the kenv too). */
  readonly initialEnv?: readonly KenvEntry[];
}

const WS = /[ \t\n\v\f\r]/;

function badValue(source: ConfSource, what: string, text: string): ConfigError {
  return new ConfigError(
    ConfigCode.BadValue,
    `config: ${source.file}:${source.line}: ${what} (${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)})`,
    { file: source.file, line: source.line, value: text },
  );
}

function invalid(source: ConfSource, what: string, details: Record<string, unknown> = {}): ConfigError {
  return new ConfigError(ConfigCode.Invalid, `config: ${source.file}:${source.line}: ${what}`, {
    file: source.file,
    line: source.line,
    ...details,
  });
}

/**
 * Splits a loader command line into words, approximately as stand/common/interp_parse.c
 * does: white space separates words, `"..."` and `'...'` group, `\` escapes the next
 * character (also inside double quotes). `$` is not expanded here. Unbalanced quotes or a
 * trailing `\` are CONFIG_BAD_VALUE.
 */
export function splitCommandLine(text: string, source: ConfSource): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text.charAt(++i);
      else cur += c;
      continue;
    }
    if (c === '\\') {
      if (i + 1 >= text.length) throw badValue(source, 'stray escape at end of command', text);
      cur += text.charAt(++i);
      inWord = true;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (WS.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw badValue(source, 'unbalanced quote in command', text);
  if (inWord) out.push(cur);
  return out;
}

/** The parts of a `load` command (command_load's getopt "dkp:s:t:"). */
interface LoadCommand {
  readonly type?: string;
  readonly name: string;
  readonly args: readonly string[];
}

/** Parses `load [-dk] [-p x] [-s x] [-t type] name [args...]`; undefined when not a load command. */
function parseLoadCommand(command: string, source: ConfSource): LoadCommand | undefined {
  const words = splitCommandLine(command, source);
  if (words[0] !== 'load') return undefined;
  let type: string | undefined;
  let i = 1;
  for (; i < words.length; i++) {
    const w = words[i] ?? '';
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break;
    for (let j = 1; j < w.length; j++) {
      const opt = w.charAt(j);
      if (opt === 'd' || opt === 'k') continue;
      if (opt === 'p' || opt === 's' || opt === 't') {
        const arg = j + 1 < w.length ? w.slice(j + 1) : words[++i];
        if (arg === undefined)
          throw invalid(source, `load option -${opt} needs an argument (${JSON.stringify(command)})`);
        if (opt === 't') type = arg;
        break;
      }
      throw invalid(source, `load has no option -${opt} (${JSON.stringify(command)})`, { command });
    }
  }
  const name = words[i];
  if (name === undefined) throw invalid(source, `load without a file name (${JSON.stringify(command)})`, { command });
  const args = words.slice(i + 1);
  if (type !== undefined && (type === '' || args.length > 0)) {
    throw invalid(
      source,
      `load -t takes exactly one file and no arguments ("invalid load type": ${JSON.stringify(command)})`,
      {
        command,
      },
    );
  }
  return type === undefined ? { name, args } : { type, name, args };
}

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

const utf8 = new TextEncoder();
/** strcmp order: compares the UTF-8 bytes. */
function strcmp(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function moduleFromLoad(
  key: string,
  load: LoadCommand,
  via: PreloadModule['via'],
  source: ConfSource,
  onError?: string,
): PreloadModule {
  const base = {
    key,
    name: load.name,
    via,
    source,
    rescueKernel: load.type === RESCUE_KERNEL_MODULE_TYPE,
    ...(onError === undefined ? {} : { onError }),
  };
  if (load.type !== undefined) return Object.freeze({ ...base, kind: 'raw' as const, type: load.type });
  return Object.freeze({
    ...base,
    kind: 'kld' as const,
    ...(load.args.length > 0 ? { args: load.args.join(' ') } : {}),
  });
}

function moduleFromConf(m: ModuleConf, load: ConfSetting): PreloadModule {
  const s = m.settings;
  const name = s.name?.value ?? m.key;
  if (s.type !== undefined && s.flags !== undefined) {
    throw invalid(
      s.flags.source,
      `module ${JSON.stringify(m.key)} has both ${m.key}_type and ${m.key}_flags; "load -t" takes no arguments, so FreeBSD's load fails ("invalid load type")`,
      { key: m.key, type: s.type.value, flags: s.flags.value },
    );
  }
  const args = s.flags === undefined ? [] : splitCommandLine(s.flags.value, s.flags.source);
  const loadCmd: LoadCommand = s.type === undefined ? { name, args } : { type: s.type.value, name, args: [] };
  return moduleFromLoad(m.key, loadCmd, 'setting', load.source, s.error?.value);
}

/** module_path entries (`;`-separated; empty entries dropped). */
function splitModulePath(value: string): string[] {
  return value
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

const hasPath = (name: string): boolean => name.includes('/');
const join = (dir: string, name: string): string =>
  dir === '' || dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;

function kldPaths(dir: string, name: string): string[] {
  return KLD_EXTENSIONS.map((ext) => join(dir, `${name}${ext}`));
}

/**
 * Where the loader looks for a module, in order (file_search / mod_load): a name with a `/`
 * is used as is; otherwise each module_path directory is tried, with the KLD extensions for
 * a KLD and without for a raw file. Use `effectiveModulePath` for the module path.
 */
export function moduleCandidates(module: PreloadModule, modulePath: readonly string[]): string[] {
  if (hasPath(module.name)) return [module.name];
  return modulePath.flatMap((dir) => (module.kind === 'kld' ? kldPaths(dir, module.name) : [join(dir, module.name)]));
}

/** module_path after the kernel loaded from `candidate` (its directory goes first, as config.lua does). */
export function effectiveModulePath(decisions: BootDecisions, candidate: KernelCandidate): string[] {
  return candidate.moduleDir === undefined ? [...decisions.modulePath] : [candidate.moduleDir, ...decisions.modulePath];
}

function kernelDecision(env: ReadonlyMap<string, ConfSetting>, modulePath: readonly string[]): KernelDecision {
  const bootfile = env.get('bootfile')?.value;
  const bootfiles = [...new Set([...(bootfile === undefined ? [] : bootfile.split(';')), DEFAULT_BOOTFILE])].filter(
    (b) => b.trim() !== '',
  );
  const kernel = env.get('kernel');
  const out: KernelCandidate[] = [];
  const inDir = (dir: string): void => {
    for (const b of bootfiles) {
      for (const path of hasPath(b) ? [b] : kldPaths(dir, b)) out.push({ path, moduleDir: dir });
    }
  };
  if (kernel === undefined) {
    // `load <bootfile>` searches every module_path directory before the next bootfile is tried
    for (const b of bootfiles) {
      for (const path of hasPath(b) ? [b] : modulePath.flatMap((dir) => kldPaths(dir, b))) out.push({ path });
    }
  } else {
    const k = kernel.value;
    for (const dir of [`/boot/${k}`, k]) inDir(dir);
    // then the kernel as a file; module_path was last set to `k`, so a bare name is looked up there
    for (const path of hasPath(k) ? [k] : kldPaths(k, k)) out.push({ path });
  }
  const seen = new Set<string>();
  const candidates = out.filter((c) => (seen.has(c.path) ? false : (seen.add(c.path), true)));
  const opts = env.get('kernel_options');
  const args = opts === undefined ? [] : splitCommandLine(opts.value, opts.source);
  return Object.freeze({
    ...(kernel === undefined ? {} : { kernel }),
    bootfiles: Object.freeze(bootfiles),
    candidates: Object.freeze(candidates),
    ...(args.length > 0 ? { args: args.join(' ') } : {}),
  });
}

/** What the loader collects while it walks the configuration. */
interface Walk {
  readonly steps: PreloadStep[];
  readonly modules: PreloadModule[];
  readonly skipped: SkippedModule[];
  readonly warnings: PreloadWarning[];
  /** `kind\0type\0name` of every module loaded so far. */
  readonly loaded: Set<string>;
}

/** The variables the loader sees: its own initial ones, then the configuration's, last one winning. */
function loaderEnv(conf: LoaderConf, opts: PreloadOptions): Map<string, ConfSetting> {
  const env = new Map<string, ConfSetting>();
  for (const [name, value] of opts.initialEnv ?? []) env.set(name, { value, source: { file: '(loader)', line: 0 } });
  for (const v of conf.env) env.set(v.name, { value: v.value, source: v.source });
  return env;
}

/** `load` of a module, unless the same file and type is already loaded (stand/common/module.c). */
function addLoad(w: Walk, m: PreloadModule): void {
  const id = `${m.kind}\0${m.type ?? ''}\0${m.name}`;
  if (w.loaded.has(id)) {
    w.skipped.push({ key: m.key, name: m.name, reason: 'already-loaded', source: m.source });
    return;
  }
  w.loaded.add(id);
  w.modules.push(m);
  w.steps.push({ kind: 'load-module', module: m });
}

/** A `<key>_before` / `<key>_after` command: a `load` becomes a module load; anything else is kept, not run. */
function runCommand(w: Walk, key: string, phase: 'before' | 'after', setting: ConfSetting): void {
  const load = parseLoadCommand(setting.value, setting.source);
  if (load !== undefined) {
    addLoad(w, moduleFromLoad(key, load, phase, setting.source));
    return;
  }
  w.steps.push({ kind: 'command', phase, key, command: setting.value, source: setting.source });
  w.warnings.push({
    code: 'COMMAND_NOT_RUN',
    message: `${key}_${phase} command ${JSON.stringify(setting.value)} is not run by kboot`,
    source: setting.source,
  });
}

/** One module setting: skipped (not enabled, blacklisted) or loaded between its commands. */
function walkModule(w: Walk, m: ModuleConf, blacklist: ReadonlySet<string>): void {
  const load = m.settings.load;
  const name = m.settings.name?.value ?? m.key;
  if (load !== undefined && !['yes', 'no'].includes(asciiLower(load.value))) {
    w.warnings.push({
      code: 'LOAD_VALUE',
      message: `${m.key}_load is ${JSON.stringify(load.value)}, neither YES nor NO: the module is not loaded`,
      source: load.source,
    });
  }
  if (load === undefined || asciiLower(load.value) !== 'yes') {
    w.skipped.push({ key: m.key, name, reason: 'not-enabled', source: load?.source ?? m.firstSource });
    return;
  }
  if (blacklist.has(name)) {
    w.skipped.push({ key: m.key, name, reason: 'blacklisted', source: load.source });
    return;
  }
  const module = moduleFromConf(m, load);
  const { before, after } = m.settings;
  if (before !== undefined) runCommand(w, m.key, 'before', before);
  addLoad(w, module);
  if (after !== undefined) runCommand(w, m.key, 'after', after);
}

/** The one module of type rescue_kernel, if any (CONFIG_INVALID for two). */
function rescueModule(modules: readonly PreloadModule[]): PreloadModule | undefined {
  const rescues = modules.filter((m) => m.rescueKernel);
  const second = rescues[1];
  if (second !== undefined) {
    throw invalid(
      second.source,
      `more than one module of type ${RESCUE_KERNEL_MODULE_TYPE} (${rescues.map((r) => `${JSON.stringify(r.name)} at ${r.source.file}:${r.source.line}`).join(', ')})`,
      { modules: rescues.map((r) => ({ key: r.key, name: r.name, file: r.source.file, line: r.source.line })) },
    );
  }
  return rescues[0];
}

/** The kernel environment in strcmp order, warning about entries the kernel would drop. */
function kernelEnv(env: ReadonlyMap<string, ConfSetting>, warnings: PreloadWarning[]): KenvEntry[] {
  const kenv: KenvEntry[] = [...env.entries()]
    .sort(([a], [b]) => strcmp(a, b))
    .map(([name, s]): KenvEntry => [name, s.value]);
  for (const [name, value] of kenv) {
    const bytes = utf8.encode(`${name}=${value}`).length + 1;
    if (bytes > KENV_MAX_ENTRY_BYTES) {
      const src = env.get(name)?.source;
      warnings.push({
        code: 'KENV_TOO_LONG',
        message: `kenv entry ${name} is ${hex(bytes)} bytes; the kernel drops entries over ${hex(KENV_MAX_ENTRY_BYTES)} ("too long kenv string")`,
        ...(src === undefined ? {} : { source: src }),
      });
    }
  }
  if (kenv.length > KENV_SIZE) {
    warnings.push({
      code: 'KENV_TOO_MANY',
      message: `${hex(kenv.length)} kenv entries; the kernel keeps at most ${hex(KENV_SIZE)}`,
    });
  }
  return kenv;
}

/** Turns a parsed loader.conf into the loader's decisions (see the module contract). */
export function preloadDecisions(conf: LoaderConf, opts: PreloadOptions = {}): BootDecisions {
  const env = loaderEnv(conf, opts);
  const w: Walk = {
    steps: conf.execs.map((e) => ({ kind: 'exec', command: e.command, source: e.source })),
    modules: [],
    skipped: [],
    warnings: conf.warnings.map((c) => ({
      code: c.code,
      message: c.message,
      ...(c.source === undefined ? {} : { source: c.source }),
    })),
    loaded: new Set(),
  };
  for (const e of conf.execs) {
    w.warnings.push({
      code: 'COMMAND_NOT_RUN',
      message: `exec ${JSON.stringify(e.command)} is not run by kboot`,
      source: e.source,
    });
  }
  const modulePathSetting = env.get('module_path');
  const modulePath =
    modulePathSetting === undefined ? [...DEFAULT_MODULE_PATH] : splitModulePath(modulePathSetting.value);
  const blacklist = new Set(env.get('module_blacklist')?.value.match(/[-A-Za-z0-9_]+/g) ?? []);
  w.steps.push({ kind: 'load-kernel' });
  for (const m of conf.modules) walkModule(w, m, blacklist);
  const rescueKernel = rescueModule(w.modules);
  const kenv = kernelEnv(env, w.warnings);
  if (rescueKernel !== undefined) {
    const on = env.get('debug.rescue_minidump')?.value;
    if (on === undefined || on === '' || on === '0') {
      w.warnings.push({
        code: 'RESCUE_NOT_ENABLED',
        message: `a ${RESCUE_KERNEL_MODULE_TYPE} is preloaded but debug.rescue_minidump is not set non-zero: rescue_kernel_init will not reserve anything`,
        source: rescueKernel.source,
      });
    }
  }
  return Object.freeze({
    kernel: kernelDecision(env, modulePath),
    modulePath: Object.freeze(modulePath),
    modules: Object.freeze(w.modules),
    ...(rescueKernel === undefined ? {} : { rescueKernel }),
    steps: Object.freeze(w.steps),
    kenv: Object.freeze(kenv),
    skipped: Object.freeze(w.skipped),
    warnings: Object.freeze(w.warnings),
  });
}

/** Where a module ended up once the loader found and loaded it. */
export interface LoadedModuleFile {
  /** The path the loader found (MODINFO_NAME is this full path, as file_search returns it). */
  readonly path: string;
  /** MODINFO_ADDR (on amd64 an offset from the kernel's load base, handoff/modinfo.ts). */
  readonly addr: bigint;
  readonly size: bigint;
  /** A KLD's type, which the ELF loader decides from the file (e.g. "elf obj module"); required for KLDs. */
  readonly elfType?: string;
}

/**
 * The modinfo record of a loaded module, as md_copymodules writes it (stand/common/modinfo.c,
 * stand/common/module.c file_loadraw / mod_loadkld): NAME = the path found, TYPE = the
 * `-t` type for a raw file or the ELF loader's type for a KLD, ARGS = the flags for a KLD
 * (raw files have none), ADDR and SIZE as loaded, no metadata.
 */
export function preloadedModuleRecord(module: PreloadModule, loaded: LoadedModuleFile): PreloadedModule {
  const type = module.kind === 'raw' ? module.type : loaded.elfType;
  assert(type !== undefined, `a KLD needs the type its ELF loader gave it (${module.name})`);
  const base = { name: loaded.path, type, addr: loaded.addr, size: loaded.size, metadata: [] };
  return Object.freeze(module.args === undefined ? base : { ...base, args: module.args });
}
