// Runs the JSON Schemas of schema.ts through ajv and turns the first violation into a ConfigError that names the
// key path, the value, what is allowed, and a "did you mean" for typos.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError } from '../errors.js';
import { didYouMean } from './suggest.js';

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

/** Validates `value` (found at key path `base`, '' for the root) against `schema`; throws ConfigError. */
export function validateAgainst(schema: Record<string, unknown>, value: unknown, base: string): void {
  let fn = compiled.get(schema);
  if (fn === undefined) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  if (fn(value)) return;
  const errors = fn.errors ?? [];
  // additionalProperties errors first: an unknown key usually explains the rest.
  const sorted = [...errors].sort((a, b) => rank(a) - rank(b));
  const first = sorted[0];
  const { path, message } = describe(first, base);
  const more =
    sorted.length > 1 ? ` (${sorted.length - 1} more problem${sorted.length > 2 ? 's' : ''} in the config)` : '';
  throw new ConfigError(message + more, path);
}

function rank(e: ErrorObject): number {
  return e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 1 : 2;
}

/** "/zero_optimization/stage" under base "" -> "zero_optimization.stage"; array items as [i]. */
export function joinPath(base: string, instancePath: string): string {
  let out = base;
  for (const seg of instancePath.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(key) ? `${out}[${key}]` : out === '' ? key : `${out}.${key}`;
  }
  return out;
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function describe(e: ErrorObject, base: string): { path: string; message: string } {
  const at = joinPath(base, e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const path = at === '' ? key : `${at}.${key}`;
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
      const allowed = Object.keys(props);
      return {
        path,
        message:
          `unknown config key "${path}".${didYouMean(key, allowed)} Allowed ` +
          `keys${at === '' ? '' : ` in "${at}"`}: ${allowed.join(', ')}.`,
      };
    }
    case 'required': {
      const path = at === '' ? String(p.missingProperty) : `${at}.${String(p.missingProperty)}`;
      return { path, message: `config key "${path}" is required.` };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(show);
      const hint = typeof e.data === 'string' ? didYouMean(e.data, (p.allowedValues as unknown[]).map(String)) : '';
      return {
        path: at,
        message: `config "${at}" = ${show(e.data)} is not allowed; allowed: ${allowed.join(', ')}.${hint}`,
      };
    }
    case 'const':
      return {
        path: at,
        message: `config "${at}" = ${show(e.data)} is not supported by zerots; only ${show(p.allowedValue)} is.`,
      };
    case 'type': {
      const want = String(p.type) === 'integer' ? 'a whole number (e.g. 8 or 5e8)' : `of type ${String(p.type)}`;
      return { path: at, message: `config "${at}" = ${show(e.data)} must be ${want}.` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return {
        path: at,
        message: `config "${at}" = ${show(e.data)} must be ${String(p.comparison)} ${String(p.limit)}.`,
      };
    case 'minItems':
    case 'maxItems':
      return {
        path: at,
        message:
          `config "${at}" = ${show(e.data)} must have ${e.keyword === 'minItems' ? 'at least' : 'at most'} ` +
          `${String(p.limit)} items.`,
      };
    default:
      return { path: at, message: `config "${at}" = ${show(e.data)} ${e.message ?? 'is invalid'}.` };
  }
}
