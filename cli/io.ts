/**
 * What a CLI command may touch: its output streams and whether they are terminals.
 * Commands write through this (never `console.*`) so tests run them in-process.
 */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** True when stdout is a terminal (progress bars, colours). */
  readonly isTty: boolean;
  readonly cwd: string;
}

/** The process's real streams (a closed pipe, as in `kboot ... | head`, ends the process quietly). */
export function processIo(): CliIo {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    isTty: process.stdout.isTTY === true,
    cwd: process.cwd(),
  };
}

/** Captures output in memory (tests). */
export function memoryIo(cwd = process.cwd()): CliIo & { stdout: () => string; stderr: () => string } {
  let o = '';
  let e = '';
  return {
    out: (t) => {
      o += t;
    },
    err: (t) => {
      e += t;
    },
    isTty: false,
    cwd,
    stdout: () => o,
    stderr: () => e,
  };
}
