/**
 * The host events of a state directory (`--state DIR`, default ./.kboot/host.json): what every
 * `--host` command did on the real system — the segments it planned or handed to kexec_load,
 * the flags, the syscall and its result — validated against schemas/host-journal.schema.json.
 * `kboot exec --segments-from-last-host-load` reads the last load back.
 *
 * Contract: the file sits beside the emulated machine's state journal (machine/journal.ts
 * state.json) in the same 0700 directory and is changed under the same flock(2)
 * (native/dir-lock.ts): read, append, write through an exclusive temporary with an
 * unpredictable name, fsync'ed and renamed into place (loader/io/output.ts writeNewFile). It is
 * read through the bounded opener, never following a symlink. The newest HOST_EVENTS_MAX events
 * are kept. Segment bytes are not stored: each segment's SHA-256 is, with the kernel file's, so
 * a replay re-plans and proves it has the same bytes.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ConfigCode, ConfigError, IoCode, IoError, KbootError } from '../loader/errors.js';
import { readInputFile } from '../loader/io/input.js';
import { outputDirectory, writeNewFile } from '../loader/io/output.js';
import { readValidJsonFile } from '../loader/schema.js';
import { withDirectoryLock } from '../native/dir-lock.js';

/** The file in the state directory. */
export const HOST_JOURNAL_FILE = 'host.json';
/** How many events are kept (the oldest go first). */
export const HOST_EVENTS_MAX = 256;

/** A file with the SHA-256 of its bytes. */
export interface HostFileRef {
  readonly path: string;
  readonly sha256: string;
}

/** One segment as handed to (or planned for) kexec_load; numbers are hex strings. */
export interface HostEventSegment {
  /** The user-space buffer address passed (absent for --dry-run). */
  readonly buf?: string;
  readonly bufsz: string;
  readonly mem: string;
  readonly memsz: string;
  readonly sha256: string;
  readonly labels: readonly string[];
}

/** What a --host command did. */
export interface HostEvent {
  readonly time: string;
  readonly command: 'load' | 'unload' | 'status' | 'plan';
  readonly os: 'linux' | 'freebsd';
  readonly arch: 'amd64' | 'arm64';
  readonly abi?: 'linux' | 'freebsd';
  readonly crash?: boolean;
  readonly dryRun?: boolean;
  /** The syscall made (absent when none was). */
  readonly syscall?: number;
  readonly kernel?: HostFileRef;
  readonly load?: {
    readonly entry: string;
    readonly flags: string;
    /** Crash: the reservation planned (its start is where a replay plans again). */
    readonly region: { readonly start: string; readonly size: string };
    readonly memsize?: string;
    readonly segments: readonly HostEventSegment[];
  };
  readonly result: { readonly ok: boolean; readonly code?: string; readonly errno?: number; readonly message?: string };
  /** status / plan: what was read. */
  readonly facts?: Readonly<Record<string, string | number | boolean | null>>;
}

/** The file. */
export interface HostJournal {
  readonly version: 1;
  readonly events: readonly HostEvent[];
}

/** What every host event starts with: now, the command, the running system. */
export function eventHead<C extends HostEvent['command']>(
  command: C,
  os: HostEvent['os'],
  arch: HostEvent['arch'],
): { readonly time: string; readonly command: C; readonly os: HostEvent['os']; readonly arch: HostEvent['arch'] } {
  return { time: new Date().toISOString(), command, os, arch };
}

/** SHA-256 of bytes, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Loads the host events of `dir` (an empty journal when there is no file). */
export function loadHostJournal(dir: string): HostJournal {
  const json = readValidJsonFile(join(dir, HOST_JOURNAL_FILE), 'host-journal', 'host events');
  return json === undefined ? { version: 1, events: [] } : (json as HostJournal);
}

/** Appends `event` to the host events of `dir` (created 0700), under the directory's lock. */
export async function appendHostEvent(dir: string, event: HostEvent, timeoutMs?: number): Promise<void> {
  const full = outputDirectory(dir, { what: 'state directory', create: true, mode: 0o700, writable: true });
  await withDirectoryLock(
    full,
    () => {
      const j = loadHostJournal(full);
      const events = [...j.events, event].slice(-HOST_EVENTS_MAX);
      writeNewFile(join(full, HOST_JOURNAL_FILE), `${JSON.stringify({ version: 1, events }, null, 2)}\n`, {
        replace: true,
        sync: true,
        what: 'host events',
      });
    },
    { what: 'state directory', ...(timeoutMs === undefined ? {} : { timeoutMs }) },
  );
}

/** The last `load` event (a real call or --dry-run), or undefined. */
export function lastHostLoad(j: HostJournal): HostEvent | undefined {
  for (let i = j.events.length - 1; i >= 0; i--) {
    const e = j.events[i];
    if (e !== undefined && e.command === 'load' && e.load !== undefined && e.kernel !== undefined) return e;
  }
  return undefined;
}

/** Reads a recorded file again; one that changed or went away is CONFIG_STALE. */
export function readRecordedFile(ref: HostFileRef, what: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(ref.path, 'kernel', { what });
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound)
      throw new ConfigError(ConfigCode.Stale, `config: ${what} ${ref.path} was removed since the host load`, {
        file: ref.path,
      });
    throw e;
  }
  const now = sha256Hex(bytes);
  if (now !== ref.sha256)
    throw new ConfigError(ConfigCode.Stale, `config: ${what} ${ref.path} changed since the host load`, {
      file: ref.path,
      recorded: ref.sha256,
      now,
    });
  return bytes;
}

/**
 * Appends the event. When the command already failed (an unprivileged user refused before any
 * call may not be able to write the state directory either), a journal failure is returned, not
 * thrown, so the command's own error is the one reported.
 */
export async function journalEvent(
  dir: string,
  event: HostEvent,
  waitMs: number | undefined,
  failed: KbootError | undefined,
): Promise<KbootError | undefined> {
  try {
    await appendHostEvent(dir, event, waitMs);
    return undefined;
  } catch (e) {
    if (failed === undefined || !(e instanceof KbootError)) throw e;
    return e;
  }
}
