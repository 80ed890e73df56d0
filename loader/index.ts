/**
 * kboot's public library API: the pure half of the loader (addresses, errors, bytes and
 * layouts, architectures, ELF images, hand-off records, plans). Consumers import from here
 * and nowhere deeper. The emulated machine lives in machine/ (see loader/memory/guest-ram.ts).
 *
 *   import { parseElf, loadProfile, planRescue } from 'kboot';
 *   const plan = planRescue({ kernel: parseElf(bytes), kernelName: 'rescue', profile: loadProfile('amd64-efi') });
 */
export * from './addr.js';
export * from './errors.js';
export * from './bytes/index.js';
export * from './arch/index.js';
export * from './kernel-abi/rescue.js';
export * from './elf/index.js';
export * from './handoff/index.js';
export * from './plan/index.js';
export { validateJson, assertValid, formatProblems, type SchemaProblem } from './schema.js';
export * from './preload/index.js';
export * from './embed/index.js';
export * from './kexec/index.js';
export * from './import/index.js';
