/**
 * What every command shares with the runner (cli/run.ts) without importing it: the exit
 * statuses, the global options, what an action receives, and a way to end with a status
 * after printing a full result. Commands and actions import this module, never cli/run.ts,
 * so there is no import cycle.
 */
import type { Command } from 'commander';
import type { CliIo } from './io.js';

/** Exit statuses. */
export const Exit = { Ok: 0, Failure: 1, Usage: 2, Bug: 70 } as const;

/** Options every command understands. */
export interface GlobalOptions {
  readonly json: boolean;
  readonly verbose: boolean;
}

/** What an action (cli/actions) receives besides its arguments: the streams and the global options. */
export interface ActionContext extends GlobalOptions {
  readonly io: CliIo;
}

const requested = new WeakMap<Command, number>();

/**
 * Lets an action that printed its full result end with a non-zero status (e.g. `kboot exec`
 * when the jump failed) without turning the result into an error message.
 */
export function requestExitStatus(cmd: Command, status: number): void {
  let root = cmd;
  while (root.parent !== null) root = root.parent;
  requested.set(root, Math.max(requested.get(root) ?? 0, status));
}

/** Reads the global options inside an action. */
export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<{ json?: boolean; verbose?: boolean }>();
  return { json: o.json === true, verbose: o.verbose === true };
}

/** The context of an action run by `cmd`. */
export function actionContext(cmd: Command, io: CliIo): ActionContext {
  return { io, ...globalOptions(cmd) };
}

/** Records the status an action returned (an action that returns nothing succeeded). */
export function endWith(cmd: Command, status: number | void): void {
  if (typeof status === 'number' && status !== Exit.Ok) requestExitStatus(cmd, status);
}

/** The status an action asked for with requestExitStatus, if any. */
export function exitStatusRequested(program: Command): number | undefined {
  return requested.get(program);
}
