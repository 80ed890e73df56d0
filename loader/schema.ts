/**
 * JSON Schema validation (ajv 8, draft 2020-12) against the schemas in `schemas/`.
 *
 * Contract: `validateJson(name, value)` returns every error with its JSON path (ajv
 * `allErrors`); `assertValid(name, value, makeError)` throws the caller's KbootError with
 * `details.problems` listing them all. Schemas are compiled once per process. Values with
 * bigints must be converted first (`toJsonValue`): JSON output prints addresses as hex strings.
 * ajv and ajv-formats (CommonJS) are required on the first validation, not when this module is
 * imported: a command that validates nothing does not load them (issue 13 item 5).
 */
import { createRequire } from 'node:module';
import type { Ajv2020, ValidateFunction, ErrorObject } from 'ajv/dist/2020.js';
import { readInputText } from './io/input.js';
import { packagePath } from './paths.js';
import { ConfigCode, ConfigError, IoCode, IoError, type KbootError } from './errors.js';

/** A new ajv for draft 2020-12 with the formats, loading both packages (once, synchronously). */
function newAjv(): Ajv2020 {
  const require = createRequire(import.meta.url);
  const { Ajv2020: Ajv } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  // ajv-formats is CommonJS; its plugin is also its `.default`
  const addFormats = (require('ajv-formats') as { default: (ajv: Ajv2020) => void }).default;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  return ajv;
}

/** One schema violation. */
export interface SchemaProblem {
  /** JSON pointer of the offending value ('' for the root). */
  readonly path: string;
  readonly message: string;
}

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function validator(name: string): ValidateFunction {
  const hit = compiled.get(name);
  if (hit !== undefined) return hit;
  ajv ??= newAjv();
  const schema = JSON.parse(
    readInputText(packagePath('schemas', `${name}.schema.json`), 'package', { what: 'JSON schema' }),
  ) as object;
  const fn = ajv.compile(schema);
  compiled.set(name, fn);
  return fn;
}

function describe(e: ErrorObject): SchemaProblem {
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') {
    message = `has unknown property "${String((e.params as { additionalProperty?: unknown }).additionalProperty)}"`;
  } else if (e.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
  }
  return { path: e.instancePath, message };
}

/** Validates `value` against `schemas/<name>.schema.json`; returns all problems (empty when valid). */
export function validateJson(name: string, value: unknown): SchemaProblem[] {
  const fn = validator(name);
  if (fn(value)) return [];
  return (fn.errors ?? []).map(describe);
}

/** Throws `makeError(problems)` when `value` does not satisfy the schema. */
export function assertValid(name: string, value: unknown, makeError: (problems: SchemaProblem[]) => KbootError): void {
  const problems = validateJson(name, value);
  if (problems.length > 0) throw makeError(problems);
}

/** Formats problems one per line: `  /ram/0/size: must match pattern ...`. */
export function formatProblems(problems: readonly SchemaProblem[]): string {
  return problems.map((p) => `  ${p.path === '' ? '(root)' : p.path}: ${p.message}`).join('\n');
}

/**
 * Reads a JSON file kboot itself wrote (a journal): through the bounded opener, never following
 * a symlink (kboot only renames regular files into place), parsed and validated against
 * `schemas/<name>.schema.json`. Undefined when there is no file; CONFIG_SYNTAX / CONFIG_SCHEMA
 * naming `what` otherwise.
 */
export function readValidJsonFile(file: string, name: string, what: string): unknown {
  let text: string;
  try {
    text = readInputText(file, 'journal', { what, followSymlinks: false });
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound) return undefined;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(ConfigCode.Syntax, `config: the ${what} ${file} is not JSON`, { file }, { cause: e });
  }
  const problems = validateJson(name, json);
  if (problems.length > 0) {
    const shown = formatProblems(problems)
      .split('\n')
      .map((l) => l.trim())
      .join('; ');
    throw new ConfigError(ConfigCode.Schema, `config: the ${what} ${file} is not valid (${shown})`, { file, problems });
  }
  return json;
}
