/**
 * Hand-off records between loader, host kernel and rescue kernel: preload metadata
 * (modinfo), kenv, EFI memory map, BIOS SMAP, efi_fb, rescue params and the device tree.
 * Each module's header states its contract and FreeBSD source.
 */
export * from './errors.js';
export * from './modinfo.js';
export * from './kenv.js';
export * from './efimap.js';
export * from './smap.js';
export * from './efifb.js';
export * from './params.js';
export * from './fdt/index.js';
