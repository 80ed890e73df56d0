/**
 * JSON Schema validation (ajv 8, draft 2020-12) against the schemas in `schemas/`.
 *
 * Contract: `validateJson(name, value)` returns every error with its JSON path (ajv
 * `allErrors`); `assertValid(name, value, makeError)` throws the caller's KbootError with
 * `details.problems` listing them all. Schemas are compiled once per process. Values with
 * bigints must be converted first (`toJsonValue`): JSON output prints addresses as hex strings.
 */
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readInputText } from './io/input.js';
import { packagePath } from './paths.js';
import type { KbootError } from './errors.js';

// ajv-formats is CommonJS; under NodeNext its default export sits on `.default`.
const addFormats = (addFormatsModule as unknown as { default: (ajv: Ajv2020) => void }).default;

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
  if (ajv === undefined) {
    ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    addFormats(ajv);
  }
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
