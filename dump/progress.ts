/**
 * Dump progress as a user sees it (the point of the issue: a bar that stalls is why kdump
 * users reset machines mid-dump). On a terminal: one line redrawn in place with a bar, bytes
 * done and total, rate and time left, at 0.1% resolution; off a terminal: a line at every
 * 10%; either way the caller prints a final summary (`summaryLine`).
 *
 * Contract: `createProgress(opts)` returns `update(done)` (monotonic byte counts; redraws
 * only when the shown permille / decile changes) and `end()` (terminates the in-place line).
 * Time comes from `opts.now` (ms) so tests are deterministic. No I/O besides `opts.write`.
 */

export interface ProgressOptions {
  readonly label: string;
  readonly total: bigint;
  readonly tty: boolean;
  readonly write: (text: string) => void;
  readonly now?: () => number;
  /** Bar width in characters (terminal only; default 30). */
  readonly width?: number;
}

export interface Progress {
  update(done: bigint): void;
  end(): void;
  /** Redraws so far (for tests). */
  readonly redraws: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(n: bigint | number): string {
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u] ?? ''}`;
}

/** Seconds as m:ss (or h:mm:ss). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => performance.now());
  const start = now();
  const total = opts.total > 0n ? opts.total : 1n;
  const width = opts.width ?? 30;
  let shown = -1;
  let redraws = 0;
  let drewInPlace = false;
  const facts = (done: bigint): string => {
    const secs = Math.max((now() - start) / 1000, 1e-9);
    const rate = Number(done) / secs;
    const left = rate > 0 ? Number(total - done) / rate : Infinity;
    return `${formatBytes(done)} / ${formatBytes(opts.total)}, ${formatBytes(rate)}/s, ${formatDuration(left)} left`;
  };
  return {
    get redraws() {
      return redraws;
    },
    update(done) {
      const d = done > total ? total : done;
      if (opts.tty) {
        const permille = Number((d * 1000n) / total);
        if (permille === shown) return;
        shown = permille;
        const fill = Math.floor((permille * width) / 1000);
        const bar = `${'#'.repeat(fill)}${'.'.repeat(width - fill)}`;
        opts.write(`\r${opts.label} [${bar}] ${(permille / 10).toFixed(1).padStart(5)}%  ${facts(d)}\x1b[K`);
        drewInPlace = true;
      } else {
        const decile = Number((d * 10n) / total);
        if (decile === shown || decile === 0) return;
        shown = decile;
        opts.write(`${opts.label}: ${decile * 10}% (${facts(d)})\n`);
      }
      redraws++;
    },
    end() {
      if (drewInPlace) opts.write('\n');
      drewInPlace = false;
    },
  };
}

/**
 * An `onProgress(done, total)` callback that draws a `createProgress` bar, created on the
 * first call (when the total is known) and again when the total changes (a new piece of
 * work), and `end()` to close its line; `enabled: false` draws nothing; with `delayMs`, a bar
 * draws nothing until it has existed that long (work that ends sooner shows no bar).
 */
export function progressReporter(opts: {
  readonly label: string;
  readonly tty: boolean;
  readonly write: (text: string) => void;
  readonly enabled?: boolean;
  readonly delayMs?: number;
  readonly now?: () => number;
}): { onProgress(done: bigint, total: bigint): void; end(): void } {
  const now = opts.now ?? (() => performance.now());
  let bar: Progress | undefined;
  let total: bigint | undefined;
  let created = 0;
  const write = (text: string): void => {
    if (now() - created >= (opts.delayMs ?? 0)) opts.write(text);
  };
  return {
    onProgress(done, t) {
      if (opts.enabled === false) return;
      if (bar === undefined || t !== total) {
        bar?.end();
        created = now();
        total = t;
        bar = createProgress({ label: opts.label, total: t, tty: opts.tty, write, now });
      }
      bar.update(done);
    },
    end: () => bar?.end(),
  };
}

/** The final line: bytes, pages, rate and file. */
export function summaryLine(s: {
  readonly file: string;
  readonly bytesIn: bigint;
  readonly bytesOut: bigint;
  readonly pages: number;
  readonly ms: number;
  readonly status: string;
}): string {
  const rate = Number(s.bytesIn) / Math.max(s.ms / 1000, 1e-9);
  const ratio =
    s.bytesOut === s.bytesIn
      ? ''
      : `, ${formatBytes(s.bytesOut)} on disk (${(Number(s.bytesIn) / Math.max(Number(s.bytesOut), 1)).toFixed(2)}:1)`;
  return `${s.status === 'good' ? 'dump saved' : 'dump INCOMPLETE'}: ${s.file}: ${formatBytes(s.bytesIn)} (${s.pages} pages${ratio}) in ${(s.ms / 1000).toFixed(2)} s, ${formatBytes(rate)}/s`;
}
