/**
 * Runs compare's strategy tasks (compare/strategy-run.ts) on worker threads, one per task up to
 * one more than the cores (the tasks differ in length: a third thread keeps both cores busy
 * when the shortest ends), or in this thread when there is one core or one task. Every task
 * runs whole in one thread; nothing is shared between tasks but the temporary directory.
 *
 * Contract: resolves to the results in task order, each with its start and end (performance.now
 * of this thread); progress lines reach `progress` in the order a serial run prints them (a
 * task's lines are held until every earlier task has finished). The first failure rejects:
 * a KbootError from a worker is raised again with its domain, code, message and details
 * (WorkerError, compare/errors.ts); the workers are terminated either way.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { WorkerError } from './errors.js';
import { runStrategyTask, type StrategyTask, type StrategyTaskResult } from './strategy-run.js';
import type { WorkerFailure } from './worker.js';

export interface TaskOutcome {
  readonly result: StrategyTaskResult;
  readonly startMs: number;
  readonly endMs: number;
}

type WorkerMessage =
  | { readonly kind: 'progress'; readonly index: number; readonly line: string }
  | { readonly kind: 'done'; readonly index: number; readonly result: StrategyTaskResult }
  | { readonly kind: 'error'; readonly index: number; readonly error: WorkerFailure };

/** Threads for `tasks` tasks on this machine (1: run in this thread). */
export function threadsFor(tasks: number, cores: number = availableParallelism()): number {
  return cores <= 1 || tasks <= 1 ? 1 : Math.min(tasks, cores + 1);
}

/** Progress lines in serial order: a task's lines wait until every earlier task is done. */
export class OrderedProgress {
  private next = 0;
  private readonly held: string[][];
  private readonly done: boolean[];

  constructor(
    tasks: number,
    private readonly out: (line: string) => void,
  ) {
    this.held = Array.from({ length: tasks }, () => []);
    this.done = Array.from({ length: tasks }, () => false);
  }

  line(index: number, line: string): void {
    if (index === this.next) this.out(line);
    else this.held[index]?.push(line);
  }

  finished(index: number): void {
    this.done[index] = true;
    while (this.next < this.done.length && this.done[this.next] === true) {
      this.next++;
      for (const l of this.held[this.next] ?? []) this.out(l);
      this.held[this.next] = [];
    }
  }
}

function failure(e: WorkerFailure): Error {
  if (e.kboot) return new WorkerError(e.json);
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** Runs every task in this thread, in order. */
function runHere(tasks: readonly StrategyTask[], progress: (line: string) => void): TaskOutcome[] {
  return tasks.map((task) => {
    const startMs = performance.now();
    const result = runStrategyTask(task, progress);
    return { result, startMs, endMs: performance.now() };
  });
}

/** Runs the tasks (see the module contract). */
export async function runTasks(
  tasks: readonly StrategyTask[],
  progress: (line: string) => void,
  threads: number = threadsFor(tasks.length),
): Promise<TaskOutcome[]> {
  if (threads <= 1) return runHere(tasks, progress);
  const ordered = new OrderedProgress(tasks.length, progress);
  const outcomes: (TaskOutcome | undefined)[] = tasks.map(() => undefined);
  const starts: number[] = tasks.map(() => 0);
  const workers: Worker[] = [];
  let queued = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let finished = 0;
      const feed = (w: Worker): void => {
        if (queued >= tasks.length) return;
        const index = queued++;
        starts[index] = performance.now();
        w.postMessage({ index, task: tasks[index] });
      };
      const onMessage = (w: Worker, m: WorkerMessage): void => {
        if (m.kind === 'progress') return ordered.line(m.index, m.line);
        if (m.kind === 'error') return reject(failure(m.error));
        outcomes[m.index] = { result: m.result, startMs: starts[m.index] ?? 0, endMs: performance.now() };
        ordered.finished(m.index);
        if (++finished === tasks.length) resolve();
        else feed(w);
      };
      for (let i = 0; i < Math.min(threads, tasks.length); i++) {
        const w = new Worker(new URL('./worker.js', import.meta.url));
        workers.push(w);
        w.on('message', (m: WorkerMessage) => onMessage(w, m));
        w.on('error', reject);
        w.on('exit', (code) => {
          if (code !== 0) reject(new Error(`compare: a worker thread exited with status ${code}`));
        });
        feed(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return outcomes.map((o) => {
    if (o === undefined) throw new Error('compare: a task finished without a result');
    return o;
  });
}
