/**
 * `kboot`: the package's main entry point — planning a FreeBSD rescue-kernel (crash kernel,
 * review D47358) hand-off without any machine: addresses, errors, architectures, ELF kernels
 * (read, write, the rescue lint), machine profiles and rescue plans, the hand-off records
 * (modinfo, kenv, EFI map, SMAP, efi_fb, rescue_kernel_params, device trees), loader.conf,
 * RESCUE_EMBED and the kexec_load rules. Everything here is pure (bytes and values in, values
 * out) except the functions that read a named file (`loadProfile`, `loadLoaderConf`,
 * `findRescueKernel`), which go through the bounded opener. Errors are `KbootError`
 * subclasses with stable `code`s.
 *
 * Contract: an explicit list (no `export *`): a name is public because it is listed here,
 * each with a doc comment at its declaration; api/kboot.api.md is the checked-in report of
 * this surface (test/api/api-report.test.ts). The emulated machine is `kboot/machine`, crash
 * dumps `kboot/dump`, the rescue kernel's side `kboot/rescue`, whole runs `kboot/scenario`.
 *
 *   import { parseElf, loadProfile, planRescue } from 'kboot';
 *   const plan = planRescue({ kernel: parseElf(bytes), kernelName: 'rescue', profile: loadProfile('amd64-efi') });
 */

// addresses: branded bigints with checked arithmetic
export {
  add,
  alignDown,
  alignUp,
  formatRange,
  hex,
  isAligned,
  kva,
  parseSizeText,
  phys,
  range,
  rangeEnd,
  size,
  sub,
  SZ_1G,
  SZ_2M,
  SZ_4G,
  SZ_4K,
  type AddrRange,
  type KernelVa,
  type KernelVaRange,
  type PhysAddr,
  type PhysRange,
  type Size,
} from './addr.js';

// errors: one base class, a stable code per failure, a class per domain
export {
  AddrCode,
  AddrError,
  BytesCode,
  BytesError,
  ConfigCode,
  ConfigError,
  IoCode,
  IoError,
  isKbootError,
  jsonSafe,
  KbootError,
  PlanCode,
  PlanError,
  type ErrorDetails,
  type ErrorDomain,
} from './errors.js';

// architectures
export { archInfo, ARCHES, type Arch, type ArchInfo } from './arch/index.js';

// ELF kernels
export {
  DEFAULT_ELF_LIMITS,
  ElfCode,
  ElfError,
  lintRescueKernel,
  parseElf,
  PF,
  RESCUE_RULES,
  sectionBytes,
  segmentBytes,
  SHF,
  STB,
  STT,
  writeElf,
  type ElfImage,
  type ElfLimits,
  type ElfNote,
  type ElfSection,
  type ElfSectionSpec,
  type ElfSegmentSpec,
  type ElfSymbol,
  type ElfSymbolSpec,
  type ElfType,
  type ElfWriteSpec,
  type ProgramHeader,
  type RescueLint,
  type RescueProblem,
  type RescueRule,
} from './elf/index.js';

// machine profiles, memory maps and plans
export {
  builtinProfileNames,
  defaultProfileName,
  loadProfile,
  parseProfile,
  type MachineProfile,
} from './plan/profile.js';
export { buildMemoryMap, type MemoryMap, type MemoryMapEntry } from './plan/memory-map.js';
export { placeReservation, type Placement, type PlacementRequest } from './plan/reservation.js';
export {
  validatePlan,
  type DeviceReservation,
  type LoadPlan,
  type PlanWarning,
  type Relocation,
  type Segment,
  type SegmentKind,
  type UsedMemory,
} from './plan/load-plan.js';
export {
  planRescue,
  rescueReservationSizing,
  type RescuePlan,
  type RescuePlanRequest,
  type ReservationSizing,
} from './plan/rescue-plan.js';
export { planKexecBoot, type KexecBootPlan, type KexecBootRequest } from './plan/kexec-plan.js';
export { RESCUE_DEFAULT_MEMSIZE, RESCUE_KERNEL_OFFSET } from './kernel-abi/rescue.js';

// hand-off records
export {
  decodeEfiMap,
  decodeKenv,
  decodeModinfo,
  decodeRescueParams,
  decodeSmap,
  encodeEfiMap,
  encodeKenv,
  encodeModinfo,
  encodeRescueParams,
  encodeSmap,
  groupModules,
  HandoffCode,
  HandoffError,
  parseFdt,
  readMemoryRanges,
  rewriteMemoryReg,
  writeFdt,
  type Fdt,
  type FdtNode,
  type FdtProp,
  type KenvEntry,
  type ModinfoRecord,
  type PreloadedModule,
  type RescueKernelParams,
} from './handoff/index.js';

// JSON Schema validation (the profile and every --json output)
export { validateJson, type SchemaProblem } from './schema.js';

// the three strategies' pure halves: loader.conf (KLD preload), RESCUE_EMBED, kexec_load
export {
  findRescueKernel,
  loadLoaderConf,
  parseLoaderConf,
  preloadDecisions,
  type BootDecisions,
  type LoadedLoaderConf,
  type LoaderConf,
} from './preload/index.js';
export { EmbedCode, EmbedError, embedRescue, extractEmbeddedRescue, type EmbeddedRescue } from './embed/index.js';
export {
  crashRequestFromPlan,
  kexecLoad,
  KexecCode,
  KexecError,
  kexecUnload,
  type KexecAbi,
  type KexecOutcome,
  type KexecRequest,
  type KexecState,
} from './kexec/index.js';

// machine importers: a board's DTB, a FreeBSD efi_map / smap, Linux memmap / iomem, the running host
export {
  buildImportedProfile,
  ImportCode,
  importDtb,
  importEfiMap,
  ImportError,
  importHost,
  importIomem,
  importMemmap,
  importSmap,
  rescueRules,
  type Assumption,
  type DtbImportOptions,
  type HostSnapshot,
  type ImportedProfile,
  type ImportMeta,
  type ImportSource,
  type MachineFacts,
  type RulesReport,
} from './import/index.js';
