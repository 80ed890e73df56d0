/**
 * The action of `kboot status` (descriptor: cli/commands/host.ts): the machine, its phase and
 * whether a rescue kernel is armed, from the replayed journal. Exit status 1 when none is
 * armed (like `kexec -S`). `--host`: the running system's kexec state instead
 * (cli/actions/host-kexec.ts, loaded only then).
 */
import { Exit, type ActionContext } from '../context.js';
import { existingStateDir, journalOrFail, statusOf, withSession, type StateOptions } from './host-state.js';

/** The options of `kboot status` (cli/commands/host.ts). */
export interface StatusOptions extends StateOptions {
  host?: boolean;
}

/** `kboot status`: prints the status; exit 1 when nothing is armed. */
export async function runStatus(ctx: ActionContext, opts: StatusOptions): Promise<number> {
  const { io } = ctx;
  if (opts.host === true) {
    const { runHostStatus } = await import('./host-kexec.js');
    return runHostStatus(ctx, opts);
  }
  const journal = journalOrFail(existingStateDir(opts, io));
  const status = withSession(journal, statusOf);
  if (ctx.json) io.out(`${JSON.stringify(status, null, 2)}\n`);
  else {
    io.out(
      `machine ${String(status['machine'])}, strategy ${String(status['strategy'])}, phase ${String(status['phase'])}\n`,
    );
    io.out(
      status['armed'] === null
        ? 'no rescue kernel armed\n'
        : `rescue kernel armed at ${JSON.stringify(status['armed'])}\n`,
    );
  }
  return status['armed'] === null ? Exit.Failure : Exit.Ok;
}
