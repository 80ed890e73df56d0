/**
 * Planning a rescue hand-off: machine profiles, memory maps, the reservation and the
 * LoadPlan with its validator. Each module's header states its contract and source.
 */
export * from './profile.js';
export * from './memory-map.js';
export * from './ranges.js';
export * from './reservation.js';
export * from './firmware.js';
export * from './rescue-area.js';
export * from './load-plan.js';
export * from './rescue-plan.js';
export * from './kexec-plan.js';
