/**
 * ELF targets: parseElf with what runs on every image a user names (the rescue lint, the
 * inspect report and its text, segment and section bytes), and the embed strategy's two
 * directions (embedRescue of a hostile host, extractEmbeddedRescue). Seeds: kboot's own
 * writers — the FreeBSD-layout fixture kernels, rescue kernels, probe kernels in both modes,
 * a core file, a shared object — and hosts with a rescue kernel embedded.
 */
import fc from 'fast-check';
import type { KernelVa, Size } from '../../../loader/addr.js';
import {
  Elf64Ehdr,
  Elf64Nhdr,
  Elf64Phdr,
  Elf64Shdr,
  ElfError,
  lintRescueKernel,
  parseElf,
  PF,
  sectionBytes,
  segmentBytes,
  writeElf,
} from '../../../loader/elf/index.js';
import { EmbedError, embedRescue, extractEmbeddedRescue } from '../../../loader/embed/index.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { formatInspect, inspectReport } from '../../../cli/actions/inspect.js';
import { makeRescueKernel } from '../../helpers/kernels.js';
import { freebsdKernelSpec, pattern } from '../../unit/loader/elf/fixtures.js';
import { bytesCase, bytesTarget, packParts, unpackParts } from '../lib/build.js';
import { layoutFields, tableFields } from '../lib/fields.js';
import type { Field } from '../lib/mutate.js';
import { invariant, type FuzzTarget } from '../lib/target.js';

/** Every ELF file the seeds draw from. */
export function elfSeeds(): Uint8Array[] {
  return [
    writeElf(freebsdKernelSpec('amd64')),
    writeElf(freebsdKernelSpec('arm64')),
    makeRescueKernel('amd64'),
    makeRescueKernel('arm64', { text: 0x2000, bss: 0 }),
    buildProbeKernel('amd64'),
    buildProbeKernel('arm64', { mode: 'kexec' }),
    writeElf({
      arch: 'amd64',
      type: 'core',
      segments: [
        { type: 'note', align: 8n as Size, notes: [{ name: 'CORE', type: 1, desc: pattern(0x40, 7) }] },
        {
          type: 'load',
          flags: PF.R | PF.W,
          vaddr: 0x1000n as KernelVa,
          data: pattern(0x200, 8),
          align: 0x1000n as Size,
        },
      ],
    }),
    writeElf({
      arch: 'arm64',
      type: 'dyn',
      segments: [{ type: 'load', flags: PF.R | PF.X, data: pattern(0x100, 9) }],
      symbols: [{ name: 'f', value: 0x10n as KernelVa, size: 4n as Size, type: 2 }],
    }),
  ];
}

const u16 = (b: Uint8Array, at: number): number => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u64n = (b: Uint8Array, at: number): number =>
  b.length < at + 8 ? 0 : Number(new DataView(b.buffer, b.byteOffset).getBigUint64(at, true));

/** The ELF, program and section headers, and the first note header of each PT_NOTE. */
export function elfFields(b: Uint8Array): Field[] {
  const phoff = u64n(b, Elf64Ehdr.offsets.phoff);
  const shoff = u64n(b, Elf64Ehdr.offsets.shoff);
  const phnum = u16(b, Elf64Ehdr.offsets.phnum);
  const shnum = u16(b, Elf64Ehdr.offsets.shnum);
  const out = [
    ...layoutFields(Elf64Ehdr, 0, b.length),
    ...tableFields(Elf64Phdr, phoff, Math.min(phnum, 64), b.length),
    ...tableFields(Elf64Shdr, shoff, Math.min(shnum, 64), b.length),
  ];
  for (let i = 0; i < Math.min(phnum, 64); i++) {
    const at = phoff + i * Elf64Phdr.size;
    if (at + Elf64Phdr.size <= b.length && u16(b, at) === 4)
      out.push(...layoutFields(Elf64Nhdr, u64n(b, at + 8), b.length));
  }
  return out;
}

/** parseElf and everything `kboot inspect` / `plan` run on the image. */
function decodeElf(b: Uint8Array): unknown {
  const img = parseElf(b);
  invariant(img.symbols.length === img.symbolCount, 'symbolCount disagrees with symbols');
  const lint = lintRescueKernel(img);
  const report = inspectReport('fuzz', img, lint);
  formatInspect(report);
  let bytes = 0;
  for (const p of img.loadSegments) bytes += segmentBytes(img, p).length;
  for (const s of img.sections) bytes += sectionBytes(img, s).length;
  return { type: img.type, arch: img.arch, phdrs: img.phdrs.length, symbols: img.symbolCount, ok: lint.ok, bytes };
}

export const elfTarget: FuzzTarget = bytesTarget({
  name: 'elf',
  group: 'elf',
  entry: 'parseElf + lintRescueKernel + inspectReport/formatInspect + segmentBytes/sectionBytes',
  errors: [ElfError],
  floor: 0.15,
  tapRuns: 10000,
  seeds: elfSeeds,
  decode: decodeElf,
  fields: elfFields,
  keepHead: Elf64Ehdr.size,
  randomLength: 2048,
});

/** A host with the rescue kernel embedded, per arch. */
function embeddedSeeds(): Uint8Array[] {
  return (['amd64', 'arm64'] as const).map((arch) =>
    embedRescue(writeElf(freebsdKernelSpec(arch)), makeRescueKernel(arch, { text: 0x1000, data: 0x1000, bss: 0 })),
  );
}

export const embeddedTarget: FuzzTarget = bytesTarget({
  name: 'embedded-rescue',
  group: 'elf',
  entry: 'extractEmbeddedRescue (rescue_start/rescue_end of a host kernel) + parseElf of what it holds',
  errors: [ElfError, EmbedError],
  floor: 0.12,
  tapRuns: 6000,
  seeds: embeddedSeeds,
  decode: (b) => {
    const r = extractEmbeddedRescue(b);
    invariant(r.end - r.start === BigInt(r.bytes.length), 'rescue_end - rescue_start differs from the bytes');
    let rescue: string;
    try {
      rescue = parseElf(r.bytes).type; // what `kboot boot --strategy embed` does next
    } catch (e) {
      if (!(e instanceof ElfError)) throw e;
      rescue = e.code;
    }
    return { start: r.start, end: r.end, segment: r.segment, rescue };
  },
  fields: elfFields,
  keepHead: Elf64Ehdr.size,
});

/** embedRescue(host, rescue) with either one mutated: `kboot embed --host H --rescue R`. */
export const embedTarget: FuzzTarget = {
  name: 'embed',
  group: 'elf',
  entry: 'embedRescue (host and rescue kernels named by the user)',
  errors: [ElfError, EmbedError],
  floor: 0.05,
  tapRuns: 4000,
  prepare() {
    const hosts = (['amd64', 'arm64'] as const).map((a) => writeElf(freebsdKernelSpec(a)));
    const rescues = (['amd64', 'arm64'] as const).map((a) =>
      makeRescueKernel(a, { text: 0x1000, data: 0x1000, bss: 0 }),
    );
    const mk = (host: Uint8Array, rescue: Uint8Array) =>
      bytesCase(packParts('host, rescue', [host, rescue]), () => {
        const out = embedRescue(host, rescue);
        invariant(extractEmbeddedRescue(out).bytes.length === rescue.length, 'the embedded rescue does not come back');
        return out.length;
      });
    const inner = bytesTarget({
      ...embedTarget,
      seeds: () => [...hosts, ...rescues],
      decode: () => undefined,
      fields: elfFields,
    }).prepare();
    const pick = fc.nat(1);
    const arbitrary = fc
      .tuple(pick, fc.boolean(), inner.arbitrary)
      .map(([a, hostSide, m]) =>
        hostSide ? mk(m.bytes, rescues[a] ?? new Uint8Array(0)) : mk(hosts[a] ?? new Uint8Array(0), m.bytes),
      );
    return {
      seeds: [0, 1].map((a) => mk(hosts[a] ?? new Uint8Array(0), rescues[a] ?? new Uint8Array(0))),
      arbitrary,
      fromBytes: (b) => {
        const { parts } = unpackParts(b);
        return mk(parts[0] ?? new Uint8Array(0), parts[1] ?? new Uint8Array(0));
      },
    };
  },
};
