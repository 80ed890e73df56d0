// The fuzz targets of group 'import' (test/fuzz/registry.ts) at their tap counts: the machine
// importers raise only their domain errors, stay usable, and each floor is met.
import { fuzzGroup } from './lib/tap.js';

fuzzGroup('import');
