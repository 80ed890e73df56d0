// The layers of docs/ARCHITECTURE.md, enforced (make lint, so CI). A layer imports only the
// layers below it; nothing forms a cycle, neither between files nor between folders.
//
//   cli/                          the command line: parse, call one library function, print
//   scenario/                     whole runs a user starts (the demo)
//   compare/                      the three strategies through the same scenarios
//   rescue/                       the rescue kernel's side after the jump (/dev/dumper, crash dumps)
//   machine/   dump/              the emulated machine | dump formats and savecore (not each other)
//   native/    kernels/           the addon's typed binding | kernels kboot builds (probe, host)
//   host/                         the running system: kexec_load(2) through ffi (only --host paths), host events
//   sysprobe/                     read-only probes of the machine kboot runs on and of map files (machine import)
//   loader/                       pure: formats, plans, hand-off, trampolines, strategies' data
const layers = {
  loader: [],
  native: ['loader'],
  kernels: ['loader'],
  sysprobe: ['loader'],
  host: ['loader', 'native', 'sysprobe'],
  machine: ['loader', 'native', 'kernels'],
  dump: ['loader', 'native'],
  rescue: ['loader', 'native', 'kernels', 'machine', 'dump'],
  compare: ['loader', 'native', 'kernels', 'machine', 'dump', 'rescue'],
  scenario: ['loader', 'native', 'kernels', 'machine', 'dump', 'rescue', 'compare'],
  cli: ['loader', 'native', 'kernels', 'machine', 'dump', 'rescue', 'compare', 'scenario', 'sysprobe', 'host'],
};
const all = Object.keys(layers);

module.exports = {
  forbidden: [
    ...Object.entries(layers).map(([layer, below]) => ({
      name: `layer-${layer}`,
      comment: `${layer}/ may import only ${below.length === 0 ? 'itself' : below.join(', ') + ' (and itself)'}`,
      severity: 'error',
      from: { path: `^${layer}/` },
      to: { path: `^(${all.filter((l) => l !== layer && !below.includes(l)).join('|')})/` },
    })),
    {
      name: 'no-library-to-tests',
      comment: 'library code never imports tests or benchmarks',
      severity: 'error',
      from: { path: `^(${all.join('|')})/` },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-file-cycles',
      comment: 'no import cycle between files',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'no import cycle between folders',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build|node_modules|coverage)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
