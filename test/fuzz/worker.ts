/**
 * One fuzz target in a worker thread (started by run.ts). Before each input runs, its index
 * and bytes go into the shared buffer, so the runner can name the input that hangs (it
 * terminates the worker) or that kills the worker (out of memory, a fatal error).
 *
 * Shared buffer: Int32 [0] inputs started, [1] byte length of the current input (or -1 when
 * it does not fit), [2] its run index; the bytes from offset SHARED_HEADER.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTarget } from './lib/engine.js';
import { fuzzTarget } from './registry.js';

export const SHARED_HEADER = 16;

export interface WorkerInput {
  readonly name: string;
  readonly runs: number;
  readonly seed: number;
  readonly shared: SharedArrayBuffer;
}

export type WorkerMessage =
  | { readonly type: 'progress'; readonly done: number }
  | { readonly type: 'done'; readonly result: ReturnType<typeof runTarget> };

if (parentPort !== null) {
  const port = parentPort;
  const input = workerData as WorkerInput;
  const target = fuzzTarget(input.name);
  if (target === undefined) throw new Error(`no fuzz target ${input.name}`);
  const head = new Int32Array(input.shared, 0, SHARED_HEADER / 4);
  const room = new Uint8Array(input.shared, SHARED_HEADER);
  const result = runTarget(target, {
    runs: input.runs,
    seed: input.seed,
    beforeCase: (index, c) => {
      const fits = c.bytes.length <= room.length;
      if (fits) room.set(c.bytes);
      Atomics.store(head, 1, fits ? c.bytes.length : -1);
      Atomics.store(head, 2, index);
      Atomics.add(head, 0, 1);
    },
    onProgress: (done) => port.postMessage({ type: 'progress', done } satisfies WorkerMessage),
  });
  port.postMessage({ type: 'done', result } satisfies WorkerMessage);
}
