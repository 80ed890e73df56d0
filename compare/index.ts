/**
 * compare/: the three ways of arming a FreeBSD rescue kernel (embed, KLD preload, kexec_load)
 * run through the same scenarios on the emulated machine (run.ts, faults.ts), and reported
 * as a terminal table (table.ts), JSON (report.ts; schemas/compare.schema.json) and an SVG
 * timeline (svg.ts).
 */
export {
  COMPARE_FAULTS,
  FAULT_LABEL,
  STRATEGY_LABEL,
  type CompareFault,
  type CompareReport,
  type FaultOutcome,
  type FaultResult,
  type PhaseResult,
  type ProfileComparison,
  type StrategyComparison,
} from './report.js';
export { runCompare, type CompareOptions } from './run.js';
export { formatCompareTable, formatProfileTable } from './table.js';
export { compareSvg, xmlEscape } from './svg.js';
