/**
 * The root pino logger and the per-call child. Secrets are censored by key wherever they sit (top
 * level or one/two levels down, where pino's redaction paths reach); phone numbers are masked by key
 * and, in message strings, as bare 7-15 digit runs.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config/schema.ts';

/** Keys whose values are never logged. */
export const SECRET_KEYS = [
  'password',
  'pass',
  'passwd',
  'secret',
  'apiKey',
  'api_key',
  'apikey',
  'token',
  'accessToken',
  'authToken',
  'authorization',
  'Authorization',
  'postgresUrl',
  'cookie',
] as const;

/** Keys holding a phone number. */
export const PHONE_KEYS = [
  'callerNumber',
  'phone',
  'phoneNumber',
  'phone_number',
  'number',
  'callerId',
  'callerid',
  'caller_id',
  'ani',
  'dnis',
] as const;

const SECRET_SET = new Set<string>(SECRET_KEYS);
const PHONE_SET = new Set<string>(PHONE_KEYS);

/** pino redaction paths: key, `*.key`, `*.*.key` (fast-redact has no recursive wildcard). */
function pathsFor(keys: readonly string[]): string[] {
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

/** "+15551234567" -> "+1555*****67": enough to tell calls apart, not enough to dial. */
export function maskPhone(value: unknown): unknown {
  if (typeof value !== 'string' && typeof value !== 'number') return value;
  const s = String(value);
  const digits = s.replace(/\D/g, '').length;
  if (digits === 0) return s;
  const keepHead = digits > 8 ? 4 : 0;
  const keepTail = 2;
  let seen = 0;
  let out = '';
  for (const ch of s) {
    if (ch >= '0' && ch <= '9') {
      seen++;
      out += seen <= keepHead || seen > digits - keepTail ? ch : '*';
    } else out += ch;
  }
  return out;
}

// A run of 7-15 digits (optionally after '+') standing alone: lead ids and ports are shorter,
// VICIdial's V-prefixed caller ids are glued to a letter and so never match.
const PHONE_IN_TEXT = /(?<![\w.:-])\+?\d{7,15}(?![\w.:])/g;

export function maskPhonesInText(text: string): string {
  return text.replace(PHONE_IN_TEXT, (m) => String(maskPhone(m)));
}

export interface LoggerOptions {
  /** Where lines go (default stdout; tests pass a stream to read them back). */
  destination?: DestinationStream;
  /** Bindings on every line, e.g. { service: 'ai-bridge' }. */
  base?: Record<string, unknown>;
}

export function createLogger(cfg: Config['log'], opts: LoggerOptions = {}): Logger {
  const redactPhones = cfg.redactPhoneNumbers;
  const keys = redactPhones ? [...SECRET_KEYS, ...PHONE_KEYS] : [...SECRET_KEYS];
  const options: pino.LoggerOptions = {
    level: cfg.level,
    base: opts.base ?? { service: 'ai-bridge' },
    redact: {
      paths: pathsFor(keys),
      censor: (value: unknown, path: string[]) => {
        const key = path[path.length - 1];
        if (SECRET_SET.has(key)) return '[redacted]';
        if (PHONE_SET.has(key)) return maskPhone(value);
        return value;
      },
    },
  };
  if (redactPhones) {
    options.hooks = {
      // Message strings are not reached by key redaction; mask bare numbers in them.
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) {
          if (typeof args[i] === 'string') args[i] = maskPhonesInText(args[i] as string);
        }
        return method.apply(this, args as Parameters<typeof method>);
      },
    };
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** One child per call: the call id is serialized once, then rides on every line. */
export function callLogger(root: Logger, callId: string, extra: Record<string, unknown> = {}): Logger {
  return root.child({ callId, ...extra });
}

/** The silent default every constructor falls back to. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
