// Probe kernels read by an independent decoder: `readelf -h -l -s -W` (GNU binutils) for the
// amd64 probe and `aarch64-linux-gnu-readelf` for the arm64 probe must show a FreeBSD
// EXEC file for the right machine, the entry at KERNSTART + 0x1000, the text PT_LOAD (R E)
// and the report PT_LOAD (RW, file size 0, one page) at file offset = VA - KERNSTART, the
// `_start`/`probe_report` symbols, and print no warning. Each arch skips only when its
// readelf is not installed (fails under CI=true).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import {
  buildProbeKernel,
  probeEntryVa,
  probeReportVa,
  ProbeReportLayout,
  PROBE_REPORT_OFFSET,
  PROBE_TEXT_OFFSET,
} from '../../kernels/probe/index.js';
import { requireTool, type ToolName } from '../helpers/tools.js';

const TOOLS: Record<Arch, { tool: ToolName; machine: RegExp }> = {
  amd64: { tool: 'readelf', machine: /Advanced Micro Devices X86-64/ },
  arm64: { tool: 'aarch64-linux-gnu-readelf', machine: /AArch64/ },
};
const dir = mkdtempSync(join(tmpdir(), 'kboot-probe-readelf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const hex = (v: bigint | number, width = 0): string => `0x${BigInt(v).toString(16).padStart(width, '0')}`;

for (const arch of ['amd64', 'arm64'] as const) {
  const { tool, machine } = TOOLS[arch];
  t.test(`${arch} probe in ${tool}`, requireTool(tool), async (t) => {
    for (const mode of ['rescue', 'kexec'] as const) {
      const file = join(dir, `probe-${arch}-${mode}.elf`);
      writeFileSync(file, buildProbeKernel(arch, { mode }));
      const r = spawnSync(tool, ['-h', '-l', '-s', '-W', file], { encoding: 'utf8' });
      t.equal(r.status, 0, `${tool} exits 0`);
      t.equal(r.stderr, '', 'no warning');
      const out = r.stdout;
      t.match(out, /Type:\s+EXEC \(Executable file\)/);
      t.match(out, /OS\/ABI:\s+UNIX - FreeBSD/);
      t.match(out, machine);
      t.match(out, new RegExp(`Entry point address:\\s+${hex(probeEntryVa(arch))}\\n`), 'entry');
      const loads = [
        ...out.matchAll(/^\s+LOAD\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(.{3})\s+(0x\S+)$/gm),
      ].map((m) => m.slice(1).map((x) => x.trim()));
      const ks = archInfo(arch).kernstart;
      t.equal(loads.length, 2, 'two PT_LOADs');
      const [text, bss] = loads;
      t.equal(BigInt(text?.[0] ?? -1), BigInt(PROBE_TEXT_OFFSET), 'text offset');
      t.equal(BigInt(text?.[1] ?? -1), ks + BigInt(PROBE_TEXT_OFFSET), 'text vaddr');
      t.equal(text?.[5], 'R E', 'text flags');
      t.equal(BigInt(bss?.[0] ?? -1), BigInt(PROBE_REPORT_OFFSET), 'report offset');
      t.equal(BigInt(bss?.[1] ?? -1), probeReportVa(arch), 'report vaddr');
      t.equal(BigInt(bss?.[3] ?? -1), 0n, 'report file size 0');
      t.equal(BigInt(bss?.[4] ?? -1), 0x1000n, 'report memory size: one page');
      t.equal(bss?.[5], 'RW', 'report flags');
      t.match(
        out,
        new RegExp(`${probeEntryVa(arch).toString(16)}\\s+\\d+\\s+FUNC\\s+GLOBAL\\s+DEFAULT\\s+1\\s+_start`),
      );
      t.match(
        out,
        new RegExp(
          `${probeReportVa(arch).toString(16)}\\s+${ProbeReportLayout.size}\\s+OBJECT\\s+GLOBAL\\s+DEFAULT\\s+2\\s+probe_report`,
        ),
      );
    }
  });
}
