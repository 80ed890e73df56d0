/**
 * `buildMachineFdt`: the device tree of a realistic arm64 machine (the host the emulator
 * boots, and the starting point of a rescue DTB), one small function per node.
 *
 * Contract: the tree has a root with `compatible`, `model`, `#address-cells = 2`,
 * `#size-cells = 2` and `interrupt-parent = <GIC>`; `/chosen`; `/cpus` with one `cpu@N`
 * per CPU ("arm,armv8", enable-method "psci"); `/psci`; one `/memory@<base>` listing every
 * RAM range; `/reserved-memory` when asked; the GICv3 `/intc@<dist>` with its ITS child
 * `its@<addr>`; the architected timer; the PL011 UART with its APB clock. Descriptions are
 * checked (FDT_VALUE_RANGE, FDT_BAD_RANGE, FDT_BAD_NAME, FDT_BAD_STRING); the result
 * passes `dtc -I dtb -O dts` without warnings (test/external/dtc.test.ts).
 *
 * Facts: Linux/FreeBSD DT bindings arm,gic-v3 (`sys/contrib/device-tree/Bindings/
 * interrupt-controller/arm,gic-v3.yaml`: `<type number flags>` specifiers, ITS child with
 * `msi-controller`), arm,arch_timer (interrupt order secure, non-secure, virtual,
 * hypervisor), arm,pl011, arm,psci; `dt-bindings/interrupt-controller/arm-gic.h`
 * (GIC_SPI 0, GIC_PPI 1) and `irq.h` (IRQ_TYPE_LEVEL_HIGH 4). Default addresses and
 * interrupt numbers are QEMU virt's (`hw/arm/virt.c` base_memmap, `include/hw/arm/virt.h`).
 * Model: Firecracker `src/vmm/src/arch/aarch64/fdt.rs` (one function per node).
 *
 * `loaderFdtFixup(fdt)`: an imported board's own tree as FreeBSD's loader hands it to the
 * kernel — fdt_fixup() (stand/fdt/fdt_loader_cmd.c) creates /chosen when missing (libfdt
 * fdt_add_subnode puts a new node right after its parent's properties, so it becomes the
 * first child; a later upstream libfdt change appends it after the subnodes instead — which
 * one sys/contrib/libfdt has is UNVERIFIED) and sets an empty /chosen `fixup-applied`; the EFI loader's
 * fdt_platform_fixups (stand/efi/fdt/efi_fdt.c) only applies overlays, of which kboot has
 * none. Nothing else changes.
 */
import { FdtCode } from '../handoff/errors.js';
import { checkMemReserve } from '../handoff/fdt/codec.js';
import { fdtError, type Fdt, type FdtMemReserve, type FdtNode } from '../handoff/fdt/model.js';
import {
  checkRanges,
  checkReservedName,
  RESERVED_MEMORY_NODE,
  type MemoryRange,
  type ReservedMemory,
} from '../handoff/fdt/memory.js';
import {
  emptyValue,
  makeNode,
  makeProp,
  regValue,
  stringValue,
  u32Value,
  unitName,
  type RegEntry,
} from '../handoff/fdt/props.js';

/** What `buildMachineFdt` needs to know about the machine. */
export interface MachineFdtDescription {
  model: string;
  compatible: string;
  cpus: number;
  memory: MemoryRange[];
  reserved?: ReservedMemory[];
  memReserve?: FdtMemReserve[];
  uart?: { base: bigint; size: bigint };
  gic?: { distributor: bigint; redistributor: bigint; redistributorSize: bigint; its?: bigint };
  bootargs?: string;
}

/** Phandles of the nodes others refer to (kboot's numbering; any unique non-zero u32 works). */
export const PHANDLE = {
  GIC: 1,
  ITS: 2,
  APB_PCLK: 3,
} as const;

/** GIC interrupt specifier cells (dt-bindings arm-gic.h and irq.h). */
export const GIC_DT = {
  SPI: 0,
  PPI: 1,
  IRQ_TYPE_LEVEL_HIGH: 4,
  /** `#interrupt-cells` of arm,gic-v3: <type number flags>. */
  INTERRUPT_CELLS: 3,
  /** `#msi-cells` of arm,gic-v3-its (the DeviceID). */
  MSI_CELLS: 1,
} as const;

/** PPI numbers (INTID − 16) the Arm Base System Architecture recommends and QEMU virt uses. */
export const ARM64_PPI = {
  GIC_MAINTENANCE: 9,
  TIMER_HYP: 10,
  TIMER_VIRT: 11,
  TIMER_SECURE: 13,
  TIMER_NONSECURE: 14,
} as const;

/** GICv3 MMIO frame sizes (Arm IHI 0069: GICD 64 KiB; GICR RD_base + SGI_base = 2 × 64 KiB per CPU; ITS control + translater = 2 × 64 KiB). */
export const GICV3_SIZE = {
  DISTRIBUTOR: 0x1_0000n,
  REDISTRIBUTOR_PER_CPU: 0x2_0000n,
  ITS: 0x2_0000n,
} as const;

/** Defaults for what a description leaves out (QEMU virt). */
export const MACHINE_DEFAULTS = {
  GIC_DISTRIBUTOR: 0x0800_0000n,
  GIC_ITS: 0x0808_0000n,
  GIC_REDISTRIBUTOR: 0x080a_0000n,
  /** PL011 interrupt: SPI 1. */
  UART_SPI: 1,
  /** The fixed APB clock feeding the PL011 (24 MHz). */
  APB_PCLK_HZ: 24_000_000,
  /** PSCI conduit. */
  PSCI_METHOD: 'hvc',
} as const;

/**
 * kboot's CPU bound. MPIDR affinity: Aff0 = cpu % 16, Aff1 = cpu / 16, because a GICv3
 * SGI target list (ICC_SGI1R_EL1.TargetList) covers Aff0 0..15 only.
 */
export const MACHINE_MAX_CPUS = 512;
const CPUS_PER_AFF1 = 16;

/** MPIDR affinity value of CPU `i` (fits in one cell). */
export function cpuMpidr(i: number): number {
  return (Math.floor(i / CPUS_PER_AFF1) << 8) | (i % CPUS_PER_AFF1);
}

function reg2(entries: readonly RegEntry[]): Uint8Array {
  return regValue(entries, 2, 2);
}

function rootNode(desc: MachineFdtDescription, children: FdtNode[]): FdtNode {
  return makeNode(
    '',
    [
      makeProp('compatible', stringValue(desc.compatible)),
      makeProp('model', stringValue(desc.model)),
      makeProp('#address-cells', u32Value(2)),
      makeProp('#size-cells', u32Value(2)),
      makeProp('interrupt-parent', u32Value(PHANDLE.GIC)),
    ],
    children,
  );
}

function chosenNode(desc: MachineFdtDescription, uartPath: string | undefined): FdtNode {
  const props = [];
  if (desc.bootargs !== undefined) props.push(makeProp('bootargs', stringValue(desc.bootargs)));
  if (uartPath !== undefined) props.push(makeProp('stdout-path', stringValue(uartPath)));
  return makeNode('chosen', props);
}

function cpuNode(i: number): FdtNode {
  const mpidr = cpuMpidr(i);
  return makeNode(unitName('cpu', BigInt(mpidr)), [
    makeProp('device_type', stringValue('cpu')),
    makeProp('compatible', stringValue('arm,armv8')),
    makeProp('reg', u32Value(mpidr)),
    makeProp('enable-method', stringValue('psci')),
  ]);
}

function cpusNode(count: number): FdtNode {
  return makeNode(
    'cpus',
    [makeProp('#address-cells', u32Value(1)), makeProp('#size-cells', u32Value(0))],
    Array.from({ length: count }, (_, i) => cpuNode(i)),
  );
}

function psciNode(): FdtNode {
  return makeNode('psci', [
    makeProp('compatible', stringValue('arm,psci-1.0', 'arm,psci-0.2')),
    makeProp('method', stringValue(MACHINE_DEFAULTS.PSCI_METHOD)),
  ]);
}

function memoryNode(memory: readonly MemoryRange[]): FdtNode {
  const first = memory[0];
  if (first === undefined) throw fdtError(FdtCode.BadRange, 'machine has no memory');
  return makeNode(unitName('memory', first.start), [
    makeProp('device_type', stringValue('memory')),
    makeProp('reg', reg2(memory)),
  ]);
}

function reservedMemoryNode(reserved: readonly ReservedMemory[]): FdtNode {
  return makeNode(
    RESERVED_MEMORY_NODE,
    [makeProp('#address-cells', u32Value(2)), makeProp('#size-cells', u32Value(2)), makeProp('ranges', emptyValue())],
    reserved.map((r) => {
      const props = [makeProp('reg', reg2([{ start: r.start, size: r.size }]))];
      if (r.noMap) props.push(makeProp('no-map', emptyValue()));
      return makeNode(unitName(r.name, r.start), props);
    }),
  );
}

function itsNode(base: bigint): FdtNode {
  return makeNode(unitName('its', base), [
    makeProp('compatible', stringValue('arm,gic-v3-its')),
    makeProp('msi-controller', emptyValue()),
    makeProp('#msi-cells', u32Value(GIC_DT.MSI_CELLS)),
    makeProp('reg', reg2([{ start: base, size: GICV3_SIZE.ITS }])),
    makeProp('phandle', u32Value(PHANDLE.ITS)),
  ]);
}

function gicNode(
  gic: Required<Omit<NonNullable<MachineFdtDescription['gic']>, 'its'>>,
  its: bigint | undefined,
): FdtNode {
  return makeNode(
    unitName('intc', gic.distributor),
    [
      makeProp('compatible', stringValue('arm,gic-v3')),
      makeProp(
        'reg',
        reg2([
          { start: gic.distributor, size: GICV3_SIZE.DISTRIBUTOR },
          { start: gic.redistributor, size: gic.redistributorSize },
        ]),
      ),
      makeProp('interrupt-controller', emptyValue()),
      makeProp('#interrupt-cells', u32Value(GIC_DT.INTERRUPT_CELLS)),
      makeProp('#address-cells', u32Value(2)),
      makeProp('#size-cells', u32Value(2)),
      makeProp('ranges', emptyValue()),
      makeProp('interrupts', u32Value(GIC_DT.PPI, ARM64_PPI.GIC_MAINTENANCE, GIC_DT.IRQ_TYPE_LEVEL_HIGH)),
      makeProp('phandle', u32Value(PHANDLE.GIC)),
    ],
    its === undefined ? [] : [itsNode(its)],
  );
}

function timerNode(): FdtNode {
  const ppi = (n: number): number[] => [GIC_DT.PPI, n, GIC_DT.IRQ_TYPE_LEVEL_HIGH];
  return makeNode('timer', [
    makeProp('compatible', stringValue('arm,armv8-timer')),
    makeProp(
      'interrupts',
      u32Value(
        ...ppi(ARM64_PPI.TIMER_SECURE),
        ...ppi(ARM64_PPI.TIMER_NONSECURE),
        ...ppi(ARM64_PPI.TIMER_VIRT),
        ...ppi(ARM64_PPI.TIMER_HYP),
      ),
    ),
    makeProp('always-on', emptyValue()),
  ]);
}

function clockNode(): FdtNode {
  return makeNode('apb-pclk', [
    makeProp('compatible', stringValue('fixed-clock')),
    makeProp('#clock-cells', u32Value(0)),
    makeProp('clock-frequency', u32Value(MACHINE_DEFAULTS.APB_PCLK_HZ)),
    makeProp('clock-output-names', stringValue('clk24mhz')),
    makeProp('phandle', u32Value(PHANDLE.APB_PCLK)),
  ]);
}

function uartNode(uart: { base: bigint; size: bigint }): FdtNode {
  return makeNode(unitName('pl011', uart.base), [
    makeProp('compatible', stringValue('arm,pl011', 'arm,primecell')),
    makeProp('reg', reg2([{ start: uart.base, size: uart.size }])),
    makeProp('interrupts', u32Value(GIC_DT.SPI, MACHINE_DEFAULTS.UART_SPI, GIC_DT.IRQ_TYPE_LEVEL_HIGH)),
    makeProp('clocks', u32Value(PHANDLE.APB_PCLK, PHANDLE.APB_PCLK)),
    makeProp('clock-names', stringValue('uartclk', 'apb_pclk')),
  ]);
}

/** The loader's /chosen edits on a board's own tree (see the module contract). */
export function loaderFdtFixup(fdt: Fdt): Fdt {
  const fixup = makeProp('fixup-applied', emptyValue());
  const i = fdt.root.children.findIndex((c) => c.name === 'chosen');
  const chosen = fdt.root.children[i];
  const children =
    chosen === undefined
      ? [makeNode('chosen', [fixup]), ...fdt.root.children]
      : fdt.root.children.map((c, j) =>
          j === i ? { ...c, props: [...c.props.filter((p) => p.name !== 'fixup-applied'), fixup] } : c,
        );
  return { ...fdt, root: { ...fdt.root, children } };
}

/** Builds the machine's tree (see the module contract). */
export function buildMachineFdt(desc: MachineFdtDescription): Fdt {
  if (!Number.isInteger(desc.cpus) || desc.cpus < 1 || desc.cpus > MACHINE_MAX_CPUS) {
    throw fdtError(FdtCode.ValueRange, 'machine CPU count is out of range', {
      cpus: desc.cpus,
      max: MACHINE_MAX_CPUS,
    });
  }
  checkRanges(desc.memory, 'machine memory');
  const gic = {
    distributor: desc.gic?.distributor ?? MACHINE_DEFAULTS.GIC_DISTRIBUTOR,
    redistributor: desc.gic?.redistributor ?? MACHINE_DEFAULTS.GIC_REDISTRIBUTOR,
    redistributorSize: desc.gic?.redistributorSize ?? GICV3_SIZE.REDISTRIBUTOR_PER_CPU * BigInt(desc.cpus),
  };
  const its = desc.gic === undefined ? MACHINE_DEFAULTS.GIC_ITS : desc.gic.its;
  const needRedist = GICV3_SIZE.REDISTRIBUTOR_PER_CPU * BigInt(desc.cpus);
  if (gic.redistributorSize < needRedist) {
    throw fdtError(FdtCode.BadRange, 'redistributor region is too small for the CPUs', {
      redistributorSize: gic.redistributorSize,
      needed: needRedist,
      cpus: desc.cpus,
    });
  }
  // Every MMIO window and RAM range must be disjoint.
  const regions: MemoryRange[] = [
    ...desc.memory,
    { start: gic.distributor, size: GICV3_SIZE.DISTRIBUTOR },
    { start: gic.redistributor, size: gic.redistributorSize },
  ];
  if (its !== undefined) regions.push({ start: its, size: GICV3_SIZE.ITS });
  if (desc.uart !== undefined) regions.push({ start: desc.uart.base, size: desc.uart.size });
  checkRanges(regions, 'machine address map');
  const reserved = desc.reserved ?? [];
  const reservedNames = new Set<string>();
  for (const r of reserved) {
    checkReservedName(r.name);
    checkRanges([{ start: r.start, size: r.size }], `reserved memory ${r.name}`);
    const name = unitName(r.name, r.start);
    if (reservedNames.has(name)) throw fdtError(FdtCode.DuplicateName, 'reserved-memory child named twice', { name });
    reservedNames.add(name);
  }
  const memReserve = (desc.memReserve ?? []).map((e, i) => {
    checkMemReserve(e, i);
    checkRanges([{ start: e.address, size: e.size }], 'memory reservation');
    return { address: e.address, size: e.size };
  });

  const uart = desc.uart === undefined ? undefined : uartNode(desc.uart);
  const children: FdtNode[] = [
    chosenNode(desc, uart === undefined ? undefined : `/${uart.name}`),
    cpusNode(desc.cpus),
    psciNode(),
    memoryNode(desc.memory),
  ];
  if (reserved.length > 0) children.push(reservedMemoryNode(reserved));
  children.push(gicNode(gic, its), timerNode());
  if (uart !== undefined) children.push(clockNode(), uart);
  return { bootCpuidPhys: 0, memReserve, root: rootNode(desc, children) };
}
