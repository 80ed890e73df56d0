/**
 * The worker-thread entry of compare/pool.ts: runs the strategy tasks it is sent
 * (compare/strategy-run.ts), one at a time, and posts back each progress line, the result, or
 * the error (a KbootError as its JSON form, so the pool raises the same domain, code,
 * message and details).
 *
 * Contract: messages in are `{ index, task }`; messages out are `{ kind: 'progress', index,
 * line }`, then `{ kind: 'done', index, result }` or `{ kind: 'error', index, error }`.
 */
import { parentPort } from 'node:worker_threads';
import { KbootError } from '../loader/errors.js';
import { runStrategyTask, type StrategyTask } from './strategy-run.js';

/** What crosses from a worker when a task fails. */
export type WorkerFailure =
  | { readonly kboot: true; readonly json: ReturnType<KbootError['toJSON']> }
  | { readonly kboot: false; readonly message: string; readonly stack: string | undefined };

const port = parentPort;
if (port !== null) {
  port.on('message', (m: { readonly index: number; readonly task: StrategyTask }) => {
    try {
      const result = runStrategyTask(m.task, (line) => port.postMessage({ kind: 'progress', index: m.index, line }));
      port.postMessage({ kind: 'done', index: m.index, result });
    } catch (e) {
      const error: WorkerFailure =
        e instanceof KbootError
          ? { kboot: true, json: e.toJSON() }
          : {
              kboot: false,
              message: e instanceof Error ? e.message : String(e),
              stack: e instanceof Error ? e.stack : undefined,
            };
      port.postMessage({ kind: 'error', index: m.index, error });
    }
  });
}
