// The API report: @microsoft/api-extractor reads each entry point's declarations
// (dist/<layer>/index.d.ts, built by tsc) and its report must equal the one checked in under
// api/ (api/kboot.api.md, api/kboot-machine.api.md, ...). A change to the public surface —
// a name added, removed or retyped — fails here until the report is regenerated with
// `npm run api` and reviewed in the diff. api-extractor is an independent reader of the
// declarations (its own TypeScript analysis), not kboot code.
import t from 'tap';
import { CompilerState, Extractor, ExtractorConfig, type ExtractorMessage } from '@microsoft/api-extractor';
import { packagePath } from '../../loader/paths.js';
import { entryPoints } from './entry-points.js';

/** The api-extractor configuration of each entry point (api/<name>.json). */
const CONFIGS: Readonly<Record<string, string>> = {
  kboot: 'kboot.json',
  'kboot/machine': 'machine.json',
  'kboot/dump': 'dump.json',
  'kboot/rescue': 'rescue.json',
  'kboot/scenario': 'scenario.json',
};

t.test('every entry point has an api-extractor configuration', (t) => {
  t.same(
    entryPoints().map((e) => e.specifier),
    Object.keys(CONFIGS),
  );
  t.end();
});

t.test('the checked-in API reports match the declarations', (t) => {
  const configs = entryPoints().map((e) => {
    const config = ExtractorConfig.loadFileAndPrepare(packagePath('api', CONFIGS[e.specifier] ?? 'missing.json'));
    t.equal(config.mainEntryPointFilePath, packagePath(e.types), `${e.specifier}: the report reads ${e.types}`);
    return { entry: e, config };
  });
  const first = configs[0];
  if (first === undefined) {
    t.end();
    return;
  }
  // one TypeScript analysis for all five (api-extractor's documented optimisation)
  const compilerState = CompilerState.create(first.config, {
    additionalEntryPoints: configs.map((c) => c.config.mainEntryPointFilePath),
  });
  for (const { entry, config } of configs) {
    const errors: string[] = [];
    const result = Extractor.invoke(config, {
      localBuild: false,
      compilerState,
      messageCallback: (m: ExtractorMessage) => {
        if (m.logLevel === 'error') errors.push(m.formatMessageWithLocation(packagePath()));
        m.handled = true;
      },
    });
    t.same(errors, [], `${entry.specifier}: no api-extractor errors`);
    t.notOk(
      result.apiReportChanged,
      `${entry.specifier}: ${config.reportFilePath} is current (if the change is meant, run npm run api and commit the report)`,
    );
    t.ok(result.succeeded, `${entry.specifier}: api-extractor succeeded`);
  }
  t.end();
});
