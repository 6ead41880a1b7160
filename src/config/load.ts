/**
 * Config = file (YAML or JSON) + environment overrides, validated once, then frozen.
 * Env: AI_BRIDGE__SECTION__KEY=value (double underscore = nesting; values parsed as JSON when they
 * parse, else kept as strings), e.g. AI_BRIDGE__ASTERISK__PASSWORD=... keeps secrets out of files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import { BridgeError } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

const ENV_PREFIX = 'AI_BRIDGE__';
const SECRET_KEY = /pass(word)?|secret|token|api_?key|apikey/i;

export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: unknown } = {}): Config {
  let raw: unknown = {};
  if (opts.file) {
    if (!existsSync(opts.file)) {
      throw new BridgeError('CONFIG_NOT_FOUND', `config file not found: ${opts.file}`, { file: opts.file });
    }
    const text = readFileSync(opts.file, 'utf8');
    try {
      raw = opts.file.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
    } catch (err) {
      throw new BridgeError('CONFIG_INVALID', `config file ${opts.file} is not valid ${opts.file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { file: opts.file }, { cause: err });
    }
  }
  if (opts.overrides !== undefined) raw = deepMerge(raw, opts.overrides);
  raw = applyEnv(raw, opts.env ?? process.env);
  return validateConfig(raw);
}

export function validateConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, raw));
    throw new BridgeError('CONFIG_INVALID', `invalid configuration:\n  ${lines.join('\n  ')}`, {
      issues: lines,
    });
  }
  return deepFreeze(result.data);
}

/** "agent.bargeIn.confirmMs = 5 (number): Number must be greater than or equal to 20" — never a secret's value. */
function describeIssue(issue: ZodIssue, raw: unknown): string {
  const key = issue.path.join('.') || '(root)';
  let value: unknown = raw;
  for (const part of issue.path) {
    value = value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[part] : undefined;
  }
  const shown = SECRET_KEY.test(key) ? '<redacted>' : value === undefined ? 'missing' : JSON.stringify(value);
  return `${key} = ${shown}: ${issue.message}`;
}

function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  let out = raw;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').filter(Boolean).map(camel);
    if (path.length === 0) continue;
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      /* plain string */
    }
    let patch: unknown = parsed;
    for (let i = path.length - 1; i >= 0; i--) patch = { [path[i]]: patch };
    out = deepMerge(out, patch);
  }
  return out;
}

/** ASTERISK -> asterisk, BARGE_IN -> bargeIn, CONFIRM_MS -> confirmMs. */
function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function deepMerge(a: unknown, b: unknown): unknown {
  if (!isPlainObject(a) || !isPlainObject(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}
