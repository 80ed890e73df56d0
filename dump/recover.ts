/**
 * What a killed dump writer leaves in a crash directory, found and put right by the next
 * run (issue 11 item 5): savecore(8) has no such step because the kernel's dump stays on the
 * dump device until savecore finishes; kboot's writer streams straight into the directory.
 *
 * How a dead writer is told from a live one: a writer (dump/savecore.ts) holds an flock(2)
 * on its info.N from before the file says "dump in progress" until the dump is named and
 * described, and on every temporary from before its first byte; the kernel drops the locks
 * when the process ends, even by SIGKILL, and a lock is immune to PID reuse. Older kboot
 * temporaries (`NAME.tmp-PID`) are judged by whether their PID still runs.
 *
 * Contract: `recoverDumpDirectory(dir)`, for each info.N that says "dump in progress" and is
 * not locked: names the partial dump its writer left (`.vmcore.N[.gz|.zst].<hex>.tmp`, or an
 * older `.vmcore.N.tmp-PID`) vmcore.N[.gz|.zst] by link(2) (never replacing: an existing
 * vmcore.N keeps the temporary in place, reported), and rewrites info.N "Dump Status: bad",
 * "Incomplete: the writer was killed ..." with the bytes kept; removes stale temporaries of
 * `bounds`, info.N rewrites and .last links (unlocked with bytes in them, or older than a
 * minute); leaves anything that is not kboot's (a symbolic link or special file with a
 * temporary's name: planted, never followed) and reports it. Nothing holding dump bytes is
 * ever deleted. It never throws: what it cannot do becomes a warning. Without the kboot
 * addon (no flock) it changes nothing and says so. `looksLikeCrashDirectory(dir)` tells a
 * crash directory (a `bounds` or an info.N in it) from any other place a dump may lie.
 */
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  unlinkSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { errnoOf } from '../loader/io/input.js';
import { classifyName, lockFile, locksSupported, writeSmallFile, type TempNameInfo } from './crashdir.js';
import { formatBytes } from './progress.js';
import { describeIncomplete, IN_PROGRESS, parseInfoText } from './info.js';

/** A partial dump named and described. */
export interface RecoveredDump {
  readonly n: number;
  /** info.N (rewritten). */
  readonly info: string;
  /** The partial dump, when one was found: vmcore.N[.gz|.zst] (or the temporary kept, see keptAs). */
  readonly vmcore?: string;
  /** Set when the partial dump could not be given its name (vmcore.N exists): where it stays. */
  readonly keptAs?: string;
  /** Bytes in the partial dump. */
  readonly bytes: bigint;
  /** What info.N now says after "Incomplete:". */
  readonly reason: string;
}

/** What recoverDumpDirectory found and did. */
export interface DumpDirRecovery {
  readonly dir: string;
  readonly recovered: readonly RecoveredDump[];
  /** Stale temporaries removed (bounds, info rewrites, .last links; never dump bytes). */
  readonly removed: readonly string[];
  /** Orphaned partial dumps left under their temporary name, and why. */
  readonly kept: readonly { readonly path: string; readonly why: string }[];
  /** Entries with a kboot temporary's name that are not kboot's (symlinks, special files). */
  readonly ignored: readonly string[];
  readonly warnings: readonly string[];
}

export interface RecoverOptions {
  /** Milliseconds after which an unlocked, empty temporary is stale (default 60 s). */
  readonly staleMs?: number;
}

const OPEN_RO = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** True while process `pid` exists (signal 0; EPERM: it exists, another user's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) !== 'ESRCH';
  }
}

/** A regular file opened without following a symlink, or undefined (absent, a link, special). */
function openRegular(path: string): { fd: number; size: number; ino: number; mtimeMs: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_RO);
  } catch {
    return undefined;
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    return undefined;
  }
  return { fd, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
}

function isRegularNoFollow(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

interface Work {
  readonly dir: string;
  readonly names: ReadonlySet<string>;
  readonly temps: readonly TempNameInfo[];
  readonly recovered: RecoveredDump[];
  readonly removed: string[];
  readonly kept: { path: string; why: string }[];
  readonly ignored: string[];
  readonly warnings: string[];
  readonly staleMs: number;
  /** Temporaries already dealt with (adopted, kept or left to a live writer). */
  readonly handled: Set<string>;
}

/** True when `dir` holds a `bounds` or an info.N: a crash directory (not any directory a dump was copied to). */
export function looksLikeCrashDirectory(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => n === 'bounds' || /^info\.\d{1,9}$/.test(n));
  } catch {
    return false;
  }
}

/** Finds and recovers what killed writers left in `dir`; see the module contract. */
export function recoverDumpDirectory(dir: string, opts: RecoverOptions = {}): DumpDirRecovery {
  const w: Work = {
    dir,
    names: new Set<string>(),
    temps: [],
    recovered: [],
    removed: [],
    kept: [],
    ignored: [],
    warnings: [],
    staleMs: opts.staleMs ?? 60_000,
    handled: new Set<string>(),
  };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return { ...result(w), warnings: [`cannot list ${dir} to look for killed dumps (${errnoOf(e)})`] };
  }
  const temps = names.map(classifyName).filter((t): t is TempNameInfo => t !== undefined);
  const work: Work = { ...w, names: new Set(names), temps };
  const slots = names
    .map((n) => /^info\.(\d{1,9})$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  if (slots.length === 0 && temps.length === 0) return result(work);
  if (!locksSupported()) {
    return {
      ...result(work),
      warnings: ['without the kboot addon (flock) killed dumps cannot be told from running ones: nothing recovered'],
    };
  }
  for (const t of temps) {
    if (t.kind !== 'last' && !isRegularNoFollow(join(dir, t.name))) {
      work.ignored.push(join(dir, t.name));
      work.handled.add(t.name);
    }
  }
  for (const n of slots) {
    try {
      recoverSlot(work, n);
    } catch (e) {
      work.warnings.push(`info.${n}: could not recover the dump (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  for (const t of temps) {
    if (work.handled.has(t.name)) continue;
    try {
      if (t.kind === 'vmcore') orphanedDump(work, t);
      else removeStale(work, t);
    } catch (e) {
      work.warnings.push(`${t.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return result(work);
}

function result(w: Work): DumpDirRecovery {
  return {
    dir: w.dir,
    recovered: w.recovered,
    removed: w.removed,
    kept: w.kept,
    ignored: w.ignored,
    warnings: w.warnings,
  };
}

/** The partial dumps of slot n: this version's and older temporaries, regular files only. */
function slotTemps(w: Work, n: number): TempNameInfo[] {
  return w.temps.filter((t) => t.kind === 'vmcore' && t.n === n && !w.handled.has(t.name));
}

/** Recovers slot n when its info.N says "in progress" and nobody holds it; see the module contract. */
function recoverSlot(w: Work, n: number): void {
  const infoPath = join(w.dir, `info.${n}`);
  const info = openRegular(infoPath);
  if (info === undefined) return;
  const open: number[] = [info.fd];
  try {
    const temps = slotTemps(w, n);
    if (lockFile(info.fd) !== 'locked') {
      for (const t of temps) w.handled.add(t.name); // a live writer's
      return;
    }
    if (lstatSync(infoPath).ino !== info.ino) return; // replaced meanwhile: its writer finished
    const text = Buffer.from(readAll(info.fd, 64 * 1024)).toString('utf8');
    if (!text.includes(`Incomplete: ${IN_PROGRESS}`)) return;
    if (temps.some((t) => t.style === 'pid' && pidAlive(t.pid ?? 0))) {
      for (const t of temps) w.handled.add(t.name); // an older kboot still writing (it took no lock)
      return;
    }
    const candidates: { t: TempNameInfo; size: number }[] = [];
    for (const t of temps) {
      const f = openRegular(join(w.dir, t.name));
      if (f === undefined) continue;
      open.push(f.fd);
      if (lockFile(f.fd) !== 'locked') {
        for (const x of temps) w.handled.add(x.name);
        return; // still being written: not ours to touch
      }
      candidates.push({ t, size: f.size });
    }
    adoptSlot(w, n, text, candidates);
  } finally {
    for (const fd of open.reverse()) closeSync(fd);
  }
}

/** Names the chosen partial dump of slot n and rewrites info.N (the locks are held by the caller). */
function adoptSlot(w: Work, n: number, text: string, candidates: readonly { t: TempNameInfo; size: number }[]): void {
  const compression = parseInfoText(text)?.compression;
  const suffix =
    compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : compression === 'none' ? '' : undefined;
  const ranked = [...candidates].sort(
    (a, b) =>
      Number(b.t.final === `vmcore.${n}${suffix ?? ''}`) - Number(a.t.final === `vmcore.${n}${suffix ?? ''}`) ||
      b.size - a.size,
  );
  const chosen = ranked[0];
  for (const c of ranked.slice(1)) {
    w.handled.add(c.t.name);
    w.kept.push({
      path: join(w.dir, c.t.name),
      why: `another partial dump of slot ${n}; vmcore.${n} is the larger one`,
    });
  }
  const infoPath = join(w.dir, `info.${n}`);
  const named = ['', '.gz', '.zst'].map((s) => `vmcore.${n}${s}`).find((x) => w.names.has(x));
  let reason: string;
  let bytes = 0n;
  let vmcore: string | undefined;
  let keptAs: string | undefined;
  if (chosen !== undefined) {
    w.handled.add(chosen.t.name);
    bytes = BigInt(chosen.size);
    const tmp = join(w.dir, chosen.t.name);
    const final = join(w.dir, chosen.t.final);
    try {
      linkSync(tmp, final); // never replaces
      unlinkSync(tmp);
      vmcore = final;
    } catch (e) {
      keptAs = tmp;
      vmcore = tmp;
      w.warnings.push(
        `the partial dump of slot ${n} stays ${chosen.t.name}: it cannot be named ${chosen.t.final} (${errnoOf(e)})`,
      );
    }
    reason = `the writer was killed after writing ${bytes} bytes (${formatBytes(bytes)}); kboot named the part written ${basename(vmcore)} afterwards`;
  } else if (named !== undefined) {
    const size = BigInt(lstatSync(join(w.dir, named)).size);
    bytes = size;
    vmcore = join(w.dir, named);
    reason = `the writer was killed after it named ${named} (${size} bytes); whether the dump is whole is unknown`;
  } else {
    reason = 'the writer was killed before it wrote any of the dump (no dump file was left)';
  }
  writeSmallFile(w.dir, `info.${n}`, describeIncomplete(text, reason, bytes), { mode: 0o600, what: 'info file' });
  w.recovered.push({
    n,
    info: infoPath,
    ...(vmcore === undefined ? {} : { vmcore }),
    ...(keptAs === undefined ? {} : { keptAs }),
    bytes,
    reason,
  });
}

/** A partial dump whose slot is not in progress (its info was finished, or is missing). */
function orphanedDump(w: Work, t: TempNameInfo): void {
  const path = join(w.dir, t.name);
  if (t.style === 'pid') {
    if (!pidAlive(t.pid ?? 0))
      w.kept.push({
        path,
        why: `its writer (pid ${t.pid ?? 0}) is gone; info.${t.n ?? 0} does not say the dump was in progress`,
      });
    return;
  }
  const f = openRegular(path);
  if (f === undefined) return;
  try {
    if (lockFile(f.fd) === 'locked' && (f.size > 0 || Date.now() - f.mtimeMs > w.staleMs)) {
      w.kept.push({ path, why: `its writer is gone; info.${t.n ?? 0} does not say the dump was in progress` });
    }
  } finally {
    closeSync(f.fd);
  }
}

/** Removes a stale temporary of bounds, an info rewrite or a .last link. */
function removeStale(w: Work, t: TempNameInfo): void {
  const path = join(w.dir, t.name);
  if (t.kind === 'last') {
    // a symbolic link made for an atomic rename over vmcore.last / info.last
    const st = lstatSync(path);
    if (st.isSymbolicLink() && Date.now() - st.mtimeMs > w.staleMs) unlinkNoted(w, path);
    else if (!st.isSymbolicLink()) w.ignored.push(path);
    return;
  }
  if (t.style === 'pid') {
    if (!pidAlive(t.pid ?? 0)) unlinkNoted(w, path);
    return;
  }
  const f = openRegular(path);
  if (f === undefined) return;
  try {
    // a live writer locks its temporary before the first byte and keeps the lock until the rename
    if (lockFile(f.fd) === 'locked' && (f.size > 0 || Date.now() - f.mtimeMs > w.staleMs)) unlinkNoted(w, path);
  } finally {
    closeSync(f.fd);
  }
}

function unlinkNoted(w: Work, path: string): void {
  try {
    unlinkSync(path);
    w.removed.push(path);
  } catch (e) {
    w.warnings.push(`cannot remove the stale temporary ${path} (${errnoOf(e)})`);
  }
}

function readAll(fd: number, max: number): Uint8Array {
  const b = Buffer.alloc(max);
  let done = 0;
  for (;;) {
    const n = readSyncSafe(fd, b, done, max - done);
    if (n <= 0) break;
    done += n;
  }
  return b.subarray(0, done);
}

function readSyncSafe(fd: number, b: Buffer, off: number, len: number): number {
  if (len <= 0) return 0;
  return readSync(fd, b, off, len, off);
}

/** One line per thing done or found, paths shown through `shown`. */
export function recoveryLines(r: DumpDirRecovery, shown: (path: string) => string = (p) => p): string[] {
  const out: string[] = [];
  for (const d of r.recovered) {
    const where =
      d.vmcore === undefined
        ? 'no dump file was left'
        : `${shown(d.vmcore)} holds ${d.bytes} bytes (${formatBytes(d.bytes)})`;
    out.push(`recovered a killed dump: ${shown(d.info)} marked incomplete (the writer was killed); ${where}`);
  }
  for (const k of r.kept) out.push(`left in place: ${shown(k.path)}: ${k.why}`);
  if (r.removed.length > 0)
    out.push(
      `removed ${r.removed.length} stale temporar${r.removed.length === 1 ? 'y' : 'ies'}: ${r.removed.map(shown).join(', ')}`,
    );
  return out;
}

/** Warnings of a recovery (planted names, what could not be done). */
export function recoveryWarnings(r: DumpDirRecovery, shown: (path: string) => string = (p) => p): string[] {
  const out = [...r.warnings];
  if (r.ignored.length > 0) {
    const some = r.ignored.slice(0, 3).map(shown).join(', ');
    out.push(
      `${r.ignored.length} entr${r.ignored.length === 1 ? 'y' : 'ies'} in ${shown(r.dir)} named like kboot temporaries ${r.ignored.length === 1 ? 'is' : 'are'} not kboot's (symbolic links or special files, never followed): ${some}${r.ignored.length > 3 ? ', ...' : ''}`,
    );
  }
  return out;
}
