/**
 * `kboot probe-kernel`: the command's descriptor; its action (cli/actions/probe-kernel.ts,
 * with the probe kernel builder) is loaded only when the command runs.
 */
import { Option, type Command } from 'commander';
import type { ProbeKernelOptions } from '../actions/probe-kernel.js';
import { ARCH_CHOICES, PROBE_MODE_CHOICES } from '../choices.js';
import { actionContext } from '../context.js';
import type { CliIo } from '../io.js';

/** Registers `kboot probe-kernel`. */
export function registerProbeKernel(program: Command, io: CliIo): void {
  program
    .command('probe-kernel')
    .description('write a probe kernel: a tiny FreeBSD-layout kernel that records how it was entered and halts')
    .addOption(new Option('--arch <arch>', 'architecture').choices(ARCH_CHOICES).makeOptionMandatory())
    .requiredOption('-o, --output <file>', 'the ELF file to write')
    .addOption(
      new Option(
        '--mode <mode>',
        'where the probe finds its hand-off: rescue (params at load PA - 2 MiB; default) or kexec (modinfo)',
      ).choices(PROBE_MODE_CHOICES),
    )
    .option(
      '--uart-base <addr>',
      'console: amd64 16550 I/O port (default 0x3f8); arm64 PL011 address (default 0x9000000)',
    )
    .option(
      '--gic [gicr-addr]',
      "arm64 rescue probe: check the live GICv3 LPI tables as FreeBSD's gicv3_its would, on the CPU; CPU 0's redistributor (default 0x80a0000)",
    )
    .option('--force', 'replace FILE if it exists')
    .action(async (opts: ProbeKernelOptions, cmd: Command) => {
      const { runProbeKernel } = await import('../actions/probe-kernel.js');
      runProbeKernel(actionContext(cmd, io), opts);
    });
}
