/**
 * The state journal (`--state DIR`, default ./.kboot/): the actions taken on one emulated
 * machine — boot, advance, load, unload — in order, validated against
 * schemas/state.schema.json. Every command replays it on a fresh machine, so `kboot load` and
 * `kboot panic` in two processes behave as one run.
 *
 * Contract:
 *  - every file a replay depends on is recorded with the SHA-256 of its bytes: the machine
 *    profile when it is a file (`machineFile`), the host kernel, the rescue kernel, the
 *    loader.conf and every file it read (`includes`: loader_conf_files and loader_conf_dirs
 *    files, in the order read), each loaded kernel; a replay reads each through
 *    loader/io/input.ts, uses exactly the bytes it checked, and a file that changed, appeared
 *    or went away since is CONFIG_STALE naming it (never a silent replay of something else);
 *  - the journal itself is read through the bounded opener (a FIFO, a device or a symlink in
 *    its place is an IoError, never a hang) and written through an exclusive temporary with an
 *    unpredictable name, fsync'ed and renamed into place (loader/io/output.ts writeNewFile);
 *  - the state directory is created 0700 whatever the umask (loader/io/output.ts
 *    outputDirectory), and a command that changes the journal holds its flock(2) around the
 *    whole read-replay-append-save (`withJournal`, native/dir-lock.ts), so concurrent
 *    commands are serialised and every action a command reports is in the journal;
 *  - version 1 journals (written before the includes and the profile's checksum were
 *    recorded) are replayed when nothing unrecorded matters; otherwise CONFIG_STALE asks for
 *    a new `kboot boot`. New journals are version 2.
 */
import { createHash } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { parseSizeText } from '../loader/addr.js';
import { ConfigCode, ConfigError, IoCode, IoError } from '../loader/errors.js';
import { readInputFile, type InputKind } from '../loader/io/input.js';
import { outputDirectory, writeNewFile } from '../loader/io/output.js';
import { loadProfile, parseProfile, profileSource, type MachineProfile } from '../loader/plan/profile.js';
import { loadLoaderConf, preloadDecisions, type LoadedLoaderConf } from '../loader/preload/index.js';
import { readValidJsonFile } from '../loader/schema.js';
import type { HostPhase } from './host/timeline.js';
import { withDirectoryLock } from '../native/dir-lock.js';
import type { StrategyId } from '../loader/strategy.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { HostSession } from './session.js';
import type { KexecAbi } from '../loader/kexec/index.js';

export interface FileRef {
  readonly path: string;
  readonly sha256: string;
}

export type JournalAction =
  | {
      readonly action: 'boot';
      readonly strategy: StrategyId;
      readonly phase: HostPhase;
      readonly kernel?: FileRef;
      readonly rescue?: FileRef;
      readonly config?: FileRef;
      /** Every other file the loader.conf read, in order (version 2). */
      readonly includes?: readonly FileRef[];
      readonly memsize?: string;
      /** `--its-handoff` as given (absent: the profile's default). */
      readonly itsHandoff?: ItsHandoffMode;
    }
  | { readonly action: 'advance'; readonly phase: HostPhase }
  | {
      readonly action: 'load';
      readonly crash: boolean;
      readonly kernel: FileRef;
      readonly abi: KexecAbi;
      readonly itsHandoff?: ItsHandoffMode;
    }
  | { readonly action: 'unload'; readonly crash: boolean };

export interface Journal {
  readonly version: 1 | 2;
  /** A built-in profile name, or a profile file (absolute path). */
  readonly machine: string;
  /** The profile file with its checksum, when `machine` is a file (version 2). */
  readonly machineFile?: FileRef;
  readonly seed: number;
  readonly actions: readonly JournalAction[];
}

export const JOURNAL_FILE = 'state.json';
/** The version new journals are written with. */
export const JOURNAL_VERSION = 2;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A file as the journal records it (absolute path + sha256), with the bytes read. */
export function fileRef(
  path: string,
  cwd: string,
  what: string,
  kind: InputKind = 'kernel',
): { ref: FileRef; bytes: Uint8Array } {
  const full = resolve(cwd, path);
  const bytes = readInputFile(full, kind, { what });
  return { ref: { path: full, sha256: sha256(bytes) }, bytes };
}

function stale(what: string, path: string, why: string, details: Record<string, unknown> = {}): ConfigError {
  return new ConfigError(
    ConfigCode.Stale,
    `config: ${what} ${path} ${why} since it was recorded in the state journal (run kboot boot again)`,
    { file: path, ...details },
  );
}

/** Reads a recorded file, refusing one that changed since it was recorded. */
export function readRef(ref: FileRef, what: string, kind: InputKind = 'kernel'): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(ref.path, kind, { what });
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound) throw stale(what, ref.path, 'was removed');
    throw e;
  }
  const sha = sha256(bytes);
  if (sha !== ref.sha256) throw stale(what, ref.path, 'changed', { recorded: ref.sha256, now: sha });
  return bytes;
}

/** The journal's record of a loader.conf read: the top file and everything it included. */
export function configRefs(conf: LoadedLoaderConf): { config: FileRef; includes: FileRef[] } {
  const [top, ...rest] = conf.digests;
  if (top === undefined) throw new ConfigError(ConfigCode.Invalid, 'config: a loader.conf read no file', {});
  const abs = (d: FileRef): FileRef => ({ path: resolve(d.path), sha256: d.sha256 });
  return { config: abs(top), includes: rest.map(abs) };
}

/**
 * Reads the recorded loader.conf again and checks that it read exactly the recorded files
 * with the recorded bytes (`includes` undefined: a version-1 journal, which recorded the top
 * file only: more files read now is CONFIG_STALE).
 */
export function loadRecordedConfig(config: FileRef, includes: readonly FileRef[] | undefined): LoadedLoaderConf {
  let conf: LoadedLoaderConf;
  try {
    conf = loadLoaderConf(config.path);
  } catch (e) {
    if (e instanceof ConfigError && e.code === ConfigCode.NotFound)
      throw stale('loader.conf', config.path, 'was removed');
    throw e;
  }
  const now = configRefs(conf);
  if (now.config.sha256 !== config.sha256) {
    throw stale('loader.conf', config.path, 'changed', { recorded: config.sha256, now: now.config.sha256 });
  }
  if (includes === undefined) {
    const extra = now.includes[0];
    if (extra !== undefined) {
      throw stale('loader.conf', config.path, 'includes a file this older journal did not record', {
        include: extra.path,
        version: 1,
      });
    }
    return conf;
  }
  const recorded = new Map(includes.map((r) => [r.path, r.sha256] as const));
  for (const r of now.includes) {
    const was = recorded.get(r.path);
    if (was === undefined) throw stale('loader.conf include', r.path, 'is read now but was not');
    if (was !== r.sha256) throw stale('loader.conf include', r.path, 'changed', { recorded: was, now: r.sha256 });
  }
  const read = new Set(now.includes.map((r) => r.path));
  for (const r of includes) {
    if (!read.has(r.path)) throw stale('loader.conf include', r.path, 'is no longer read (removed or unlisted)');
  }
  return conf;
}

/**
 * The profile as the host sees it after the loader read `loader.conf`: every variable the
 * configuration sets goes into the kenv (after the profile's own; a name set in both keeps
 * the configuration's value), so `debug.rescue_minidump="1"` becomes a tunable.
 */
export function withLoaderConf(profile: MachineProfile, conf: LoadedLoaderConf): MachineProfile {
  const decisions = preloadDecisions(conf);
  const fromConf = new Map(decisions.kenv.map(([k, v]) => [k, v] as const));
  const kenv = [...profile.hostKernel.kenv.filter(([k]) => !fromConf.has(k)), ...decisions.kenv];
  return { ...profile, hostKernel: { ...profile.hostKernel, kenv } };
}

/** The machine a `--machine` argument names, as a new journal records it. */
export function machineRef(nameOrPath: string, cwd: string): Pick<Journal, 'machine' | 'machineFile'> {
  const source = profileSource(nameOrPath, cwd);
  if (source.kind === 'builtin') return { machine: source.name };
  const { ref } = fileRef(source.path, '/', 'machine profile', 'profile');
  return { machine: source.path, machineFile: ref };
}

/** The journal's machine profile, checked against its recorded checksum. */
function journalProfile(journal: Journal): MachineProfile {
  if (journal.machineFile !== undefined) {
    const bytes = readRef(journal.machineFile, 'machine profile', 'profile');
    return parseProfile(Buffer.from(bytes).toString('utf8'), journal.machineFile.path);
  }
  if (profileSource(journal.machine, '/').kind === 'file') {
    throw stale('machine profile', journal.machine, 'may have changed (this older journal has no checksum of it)', {
      version: journal.version,
    });
  }
  return loadProfile(journal.machine);
}

/** Loads the journal in `dir`, or undefined when there is none. */
export function loadJournal(dir: string): Journal | undefined {
  return readValidJsonFile(join(dir, JOURNAL_FILE), 'state', 'state journal') as Journal | undefined;
}

/**
 * The state directory: created 0700 (whatever the umask) when missing and `create`; for a
 * command that writes it (`writable`), one where no file can be created is refused up front.
 */
export function stateDirectory(dir: string, create: boolean, writable = create): string {
  return outputDirectory(dir, { what: 'state directory', create, mode: 0o700, writable });
}

/** Writes the journal atomically through an exclusive temporary (see the module contract). */
export function saveJournal(dir: string, journal: Journal): void {
  const full = stateDirectory(dir, true);
  writeNewFile(join(full, JOURNAL_FILE), `${JSON.stringify(journal, null, 2)}\n`, {
    replace: true,
    sync: true,
    what: 'state journal',
  });
}

/**
 * Runs `f` holding the state directory's lock (created 0700 when `create`): the whole
 * read-replay-append-save of a command that changes the journal. `timeoutMs` bounds the wait
 * for another command (IO_LOCKED after it).
 */
export async function withJournal<T>(
  dir: string,
  create: boolean,
  timeoutMs: number,
  f: (dir: string) => T | Promise<T>,
): Promise<T> {
  const full = stateDirectory(dir, create, true);
  return withDirectoryLock(full, () => f(full), { what: 'state directory', timeoutMs });
}

const itsOption = (m: ItsHandoffMode | undefined): { itsHandoff?: ItsHandoffMode } =>
  m === undefined ? {} : { itsHandoff: m };

/**
 * Replays a journal on a fresh machine; the caller closes the session. `override.itsHandoff`
 * arms with that mode instead of the recorded one (`kboot panic --its-handoff`).
 */
export function replay(journal: Journal, override: { readonly itsHandoff?: ItsHandoffMode } = {}): HostSession {
  const [boot, ...rest] = journal.actions;
  if (boot === undefined || boot.action !== 'boot') {
    throw new ConfigError(ConfigCode.Invalid, 'config: the state journal does not start with a boot', {
      actions: journal.actions.length,
    });
  }
  const base = journalProfile(journal);
  const includes = boot.includes ?? (journal.version === 1 ? undefined : []);
  const profile = boot.config === undefined ? base : withLoaderConf(base, loadRecordedConfig(boot.config, includes));
  const rescue = boot.rescue === undefined ? undefined : readRef(boot.rescue, 'rescue kernel');
  if (rescue === undefined) {
    throw new ConfigError(ConfigCode.Invalid, 'config: the boot in the state journal names no rescue kernel', {});
  }
  const memsize = boot.memsize === undefined ? undefined : parseSizeText(boot.memsize);
  // `kboot panic --its-handoff` replays the arming with another mode
  const its = (recorded: ItsHandoffMode | undefined): ItsHandoffMode | undefined => override.itsHandoff ?? recorded;
  const session = HostSession.boot({
    profile,
    strategy: boot.strategy,
    rescue,
    seed: journal.seed,
    ...(boot.kernel === undefined ? {} : { hostKernel: readRef(boot.kernel, 'host kernel') }),
    ...(memsize === undefined ? {} : { memsize }),
    ...itsOption(its(boot.itsHandoff)),
  });
  try {
    session.advanceTo(boot.phase);
    for (const a of rest) {
      switch (a.action) {
        case 'advance':
          session.advanceTo(a.phase);
          break;
        case 'load':
          if (a.crash) session.loadCrash(readRef(a.kernel, 'crash kernel'), a.abi, its(a.itsHandoff));
          else session.loadNormal(readRef(a.kernel, 'kernel'), basename(a.kernel.path), a.abi);
          break;
        case 'unload':
          session.unloadCrash();
          break;
        case 'boot':
          throw new ConfigError(ConfigCode.Invalid, 'config: a second boot inside one state journal', {});
      }
    }
    return session;
  } catch (e) {
    session.close();
    throw e;
  }
}
