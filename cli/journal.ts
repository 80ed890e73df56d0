/**
 * The state journal (`--state DIR`, default ./.kboot/): the actions taken on one emulated
 * machine — boot, advance, load, unload — in order, validated against
 * schemas/state.schema.json. Every command replays it on a fresh machine, so `kboot load` and
 * `kboot panic` in two processes behave as one run. Files are recorded with their SHA-256; a
 * file changed since then makes the journal stale (CONFIG_STALE) rather than silently
 * replaying something else. Writes go to a temporary file and are renamed into place.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseSizeText } from '../loader/addr.js';
import { ConfigCode, ConfigError } from '../loader/errors.js';
import { loadProfile, type MachineProfile } from '../loader/plan/profile.js';
import { loadLoaderConf, preloadDecisions } from '../loader/preload/index.js';
import { formatProblems, validateJson } from '../loader/schema.js';
import type { HostPhase } from '../machine/host/timeline.js';
import { HostSession, type Strategy } from '../machine/session.js';
import type { KexecAbi } from '../loader/kexec/index.js';
import { readInputFile } from './files.js';

export interface FileRef {
  readonly path: string;
  readonly sha256: string;
}

export type JournalAction =
  | {
      readonly action: 'boot';
      readonly strategy: Strategy;
      readonly phase: HostPhase;
      readonly kernel?: FileRef;
      readonly rescue?: FileRef;
      readonly config?: FileRef;
      readonly memsize?: string;
    }
  | { readonly action: 'advance'; readonly phase: HostPhase }
  | { readonly action: 'load'; readonly crash: boolean; readonly kernel: FileRef; readonly abi: KexecAbi }
  | { readonly action: 'unload'; readonly crash: boolean };

export interface Journal {
  readonly version: 1;
  readonly machine: string;
  readonly seed: number;
  readonly actions: readonly JournalAction[];
}

export const JOURNAL_FILE = 'state.json';

/** A file as the journal records it (absolute path + sha256). */
export function fileRef(path: string, cwd: string, what: string): { ref: FileRef; bytes: Uint8Array } {
  const full = resolve(cwd, path);
  const bytes = readInputFile(full, cwd, what);
  return { ref: { path: full, sha256: createHash('sha256').update(bytes).digest('hex') }, bytes };
}

/** Reads a recorded file, refusing one that changed since it was recorded. */
export function readRef(ref: FileRef, what: string): Uint8Array {
  const bytes = readInputFile(ref.path, '/', what);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== ref.sha256) {
    throw new ConfigError(
      ConfigCode.Stale,
      `config: ${what} ${ref.path} changed since it was recorded in the state journal (run kboot boot again)`,
      {
        file: ref.path,
        recorded: ref.sha256,
        now: sha,
      },
    );
  }
  return bytes;
}

/**
 * The profile as the host sees it after the loader read `loader.conf`: every variable the
 * configuration sets goes into the kenv (after the profile's own; a name set in both keeps
 * the configuration's value), so `debug.rescue_minidump="1"` becomes a tunable.
 */
export function withLoaderConf(profile: MachineProfile, config: FileRef): MachineProfile {
  readRef(config, 'loader.conf');
  const decisions = preloadDecisions(loadLoaderConf(config.path));
  const fromConf = new Map(decisions.kenv.map(([k, v]) => [k, v] as const));
  const kenv = [...profile.hostKernel.kenv.filter(([k]) => !fromConf.has(k)), ...decisions.kenv];
  return { ...profile, hostKernel: { ...profile.hostKernel, kenv } };
}

/** Loads the journal in `dir`, or undefined when there is none. */
export function loadJournal(dir: string): Journal | undefined {
  const file = join(dir, JOURNAL_FILE);
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(ConfigCode.Syntax, `config: the state journal ${file} is not JSON`, { file }, { cause: e });
  }
  const problems = validateJson('state', json);
  if (problems.length > 0) {
    throw new ConfigError(
      ConfigCode.Schema,
      `config: the state journal ${file} is not valid:\n${formatProblems(problems)}`,
      {
        file,
        problems,
      },
    );
  }
  return json as Journal;
}

/** Writes the journal atomically. */
export function saveJournal(dir: string, journal: Journal): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, JOURNAL_FILE);
  const tmp = join(dirname(file), `.${JOURNAL_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(journal, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

/** Replays a journal on a fresh machine; the caller closes the session. */
export function replay(journal: Journal): HostSession {
  const [boot, ...rest] = journal.actions;
  if (boot === undefined || boot.action !== 'boot') {
    throw new ConfigError(ConfigCode.Invalid, 'config: the state journal does not start with a boot', {
      actions: journal.actions.length,
    });
  }
  const base = loadProfile(journal.machine);
  const profile = boot.config === undefined ? base : withLoaderConf(base, boot.config);
  const rescue = boot.rescue === undefined ? undefined : readRef(boot.rescue, 'rescue kernel');
  if (rescue === undefined) {
    throw new ConfigError(ConfigCode.Invalid, 'config: the boot in the state journal names no rescue kernel', {});
  }
  const memsize = boot.memsize === undefined ? undefined : parseSizeText(boot.memsize);
  const session = HostSession.boot({
    profile,
    strategy: boot.strategy,
    rescue,
    seed: journal.seed,
    ...(boot.kernel === undefined ? {} : { hostKernel: readRef(boot.kernel, 'host kernel') }),
    ...(memsize === undefined ? {} : { memsize }),
  });
  try {
    session.advanceTo(boot.phase);
    for (const a of rest) {
      switch (a.action) {
        case 'advance':
          session.advanceTo(a.phase);
          break;
        case 'load':
          if (a.crash) session.loadCrash(readRef(a.kernel, 'crash kernel'), a.abi);
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
