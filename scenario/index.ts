/**
 * `kboot/scenario`: whole runs a user starts, as library calls that narrate through
 * callbacks instead of printing. Today: the demo (demo.ts), what `kboot demo` and `make demo`
 * run.
 */
export { DEMO_SAMPLE_PAGES, runDemo, type DemoOptions, type DemoReport } from './demo.js';
