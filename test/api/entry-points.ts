/**
 * The package's public entry points as package.json `exports` declares them, and what each
 * exports according to the TypeScript compiler (test/api/*.test.ts).
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { packagePath } from '../../loader/paths.js';

/** One subpath of `exports`: its import specifier and its source index. */
export interface EntryPoint {
  /** e.g. `kboot/dump` */
  readonly specifier: string;
  /** e.g. `./dump` */
  readonly subpath: string;
  /** The compiled module, e.g. `./dist/dump/index.js`. */
  readonly js: string;
  /** Its declarations, e.g. `./dist/dump/index.d.ts`. */
  readonly types: string;
  /** The TypeScript source it is compiled from, e.g. `dump/index.ts`. */
  readonly source: string;
}

interface PackageJson {
  readonly name: string;
  readonly main?: string;
  readonly types?: string;
  readonly exports?: Readonly<Record<string, string | { readonly types?: string; readonly default?: string }>>;
  readonly files?: readonly string[];
}

/** package.json. */
export function packageJson(): PackageJson {
  return JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as PackageJson;
}

/** Every entry point of `exports` with a types condition (package.json itself left out). */
export function entryPoints(): EntryPoint[] {
  const pkg = packageJson();
  return Object.entries(pkg.exports ?? {}).flatMap(([subpath, target]) => {
    if (typeof target === 'string' || target.types === undefined || target.default === undefined) return [];
    const source = target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');
    const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    return [{ specifier, subpath, js: target.default, types: target.types, source }];
  });
}

/** An exported name and whether its declaration carries a doc comment. */
export interface ExportedName {
  readonly name: string;
  readonly documented: boolean;
  /** Where it is declared (file:line), for messages. */
  readonly at: string;
}

/** The names each source index exports, resolved to their declarations. */
export function exportedNames(sources: readonly string[]): Map<string, ExportedName[]> {
  const files = sources.map((s) => packagePath(s));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, ExportedName[]>();
  for (const [i, file] of files.entries()) {
    const sf = program.getSourceFile(file);
    const mod = sf === undefined ? undefined : checker.getSymbolAtLocation(sf);
    const names = (mod === undefined ? [] : checker.getExportsOfModule(mod)).map((sym) => {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      const decl = target.declarations?.[0];
      const documented = (target.declarations ?? []).some((d) => ts.getJSDocCommentsAndTags(d).length > 0);
      const where = decl === undefined ? '?' : decl.getSourceFile();
      const line =
        decl === undefined || where === '?' ? 0 : where.getLineAndCharacterOfPosition(decl.getStart()).line + 1;
      const at = where === '?' ? '?' : `${where.fileName.replace(`${packagePath()}/`, '')}:${line}`;
      return { name: sym.name, documented, at };
    });
    out.set(sources[i] ?? file, names);
  }
  return out;
}

/** The ```ts blocks of the README's "## Library" section. */
export function readmeLibraryBlocks(readme: string): string[] {
  const start = readme.indexOf('\n## Library\n');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** Type-checks `sources` as modules of this package (so `kboot/...` resolves through `exports`). */
export function typeCheck(sources: readonly string[]): string[] {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const names = sources.map((_, i) => packagePath('test', 'api', `readme-block-${i}.ts`));
  const host = ts.createCompilerHost(options);
  const virtual = new Map(names.map((n, i) => [n, sources[i] ?? '']));
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => {
    const text = virtual.get(name);
    return text === undefined ? getSourceFile(name, lang, ...rest) : ts.createSourceFile(name, text, lang);
  };
  host.fileExists = (name) => virtual.has(name) || fileExists(name);
  host.readFile = (name) => virtual.get(name) ?? readFile(name);
  const program = ts.createProgram(names, options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}
