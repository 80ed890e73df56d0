/**
 * What kboot removes or finishes when it is interrupted (SIGINT, SIGTERM, SIGHUP).
 *
 * Contract:
 *  - `registerTemporary(path)` / `forgetTemporary(path)`: a file kboot created and will
 *    either name or remove (loader/io/output.ts does this for every temporary); on one of
 *    the signals each registered temporary is unlinked;
 *  - `onInterrupt(fn)`: a synchronous step to run before the temporaries are removed (for
 *    example, describing a partial dump in its info.N, as a kill leaves it); the returned
 *    function unregisters it;
 *  - after the clean-up the process ends with the signal's conventional status 128 + signo;
 *    the handlers are installed while something is registered and removed when nothing is,
 *    so an idle kboot keeps the default action (Ctrl-C ends it at once).
 * A SIGKILL runs nothing: what a killed writer leaves is recovered by the next run
 * (dump/savecore.ts recovery); temporaries have names no other run mistakes for its own.
 */
import { unlinkSync } from 'node:fs';

const temporaries = new Set<string>();
const steps = new Set<() => void>();
const handlers = new Map<NodeJS.Signals, () => void>();
let running = false;

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function runCleanup(): void {
  if (running) return;
  running = true;
  for (const step of [...steps]) {
    try {
      step();
    } catch {
      // a failing step must not keep the temporaries in place
    }
  }
  for (const path of [...temporaries]) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    temporaries.delete(path);
  }
}

function install(): void {
  if (handlers.size > 0) return;
  for (const [name, number] of Object.entries(SIGNALS)) {
    const handler = (): void => {
      runCleanup();
      process.exit(128 + number);
    };
    handlers.set(name as NodeJS.Signals, handler);
    process.on(name as NodeJS.Signals, handler);
  }
}

/** With nothing left to clean up, the signals get their default action back (Ctrl-C ends at once). */
function uninstallWhenIdle(): void {
  if (temporaries.size > 0 || steps.size > 0 || running) return;
  for (const [name, handler] of handlers) process.removeListener(name, handler);
  handlers.clear();
}

/** Registers a temporary file to remove on interruption. */
export function registerTemporary(path: string): void {
  install();
  temporaries.add(path);
}

/** The temporary got its final name or was removed: nothing to do for it any more. */
export function forgetTemporary(path: string): void {
  temporaries.delete(path);
  uninstallWhenIdle();
}

/** Registers a step to run on interruption (before temporaries are removed); returns its remover. */
export function onInterrupt(step: () => void): () => void {
  install();
  steps.add(step);
  return () => {
    steps.delete(step);
    uninstallWhenIdle();
  };
}

/** The temporaries registered now (tests). */
export function registeredTemporaries(): readonly string[] {
  return [...temporaries];
}

/** Runs the clean-up without exiting (tests of what an interruption leaves). */
export function runInterruptCleanupForTest(): void {
  runCleanup();
  running = false;
}
