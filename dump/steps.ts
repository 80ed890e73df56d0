/**
 * Long dump work (writing a dump, decompressing one) written once as a generator of steps and
 * run either to the end at once (`runSteps`, the synchronous library API) or with the event
 * loop turning between steps (`runStepsAsync`, what the CLI uses), so SIGINT / SIGTERM
 * handlers (loader/io/cleanup.ts) run within a fraction of a second instead of after the
 * work, and a progress line is drawn as it goes.
 *
 * Contract: a step generator yields (no value) at points where its state is consistent (for
 * a dump: between two chunks, everything written so far accounted for); its return value is
 * the result. `runStepsAsync` yields to the event loop (setImmediate) whenever `sliceMs`
 * (default 20 ms) of steps ran since the last turn. Errors thrown by the generator propagate.
 */

/** Work that yields between steps and returns a T. */
export type Steps<T> = Generator<void, T, undefined>;

/** Runs every step at once. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs the steps, letting the event loop turn every `sliceMs` milliseconds. */
export async function runStepsAsync<T>(steps: Steps<T>, sliceMs = 20): Promise<T> {
  let since = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    const now = performance.now();
    if (now - since >= sliceMs) {
      await turn();
      since = performance.now();
    }
  }
}
