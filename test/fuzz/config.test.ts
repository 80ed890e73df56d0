// The fuzz targets of group 'config' (test/fuzz/registry.ts) at their tap counts: only each
// parser's own KbootError escapes, the parser stays usable, and each floor is met.
import { fuzzGroup } from './lib/tap.js';

fuzzGroup('config');
