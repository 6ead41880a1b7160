/**
 * Provider checks: one cheap authenticated GET per configured cloud provider, and a look for the
 * system pieces the embedded stack loads (flite, libpocketsphinx). Entries are read loosely by
 * `type` so new vendors in providers.ts only need a row in PROBES.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fail, httpGet, networkReason, pass, shownUrl, type CheckResult } from './check.ts';

export interface ProviderEntryLike {
  type: string;
  baseUrl?: string;
  apiKey?: string;
  [key: string]: unknown;
}

interface Probe {
  defaultBase: string;
  path: string;
  headers: (key: string, entry: ProviderEntryLike) => Record<string, string>;
}

/** Cheapest authenticated request per vendor (no billing, no side effects). */
export const PROBES: Record<string, Probe> = {
  // OpenAI and every server speaking its API (vLLM, Ollama, Groq, Together...).
  openai: { defaultBase: 'https://api.openai.com/v1', path: '/models', headers: (k) => ({ authorization: `Bearer ${k}` }) },
  deepgram: { defaultBase: 'https://api.deepgram.com', path: '/v1/projects', headers: (k) => ({ authorization: `Token ${k}` }) },
  elevenlabs: { defaultBase: 'https://api.elevenlabs.io', path: '/v1/user', headers: (k) => ({ 'xi-api-key': k }) },
  cartesia: {
    defaultBase: 'https://api.cartesia.ai',
    path: '/voices',
    headers: (k, e) => ({ 'x-api-key': k, 'cartesia-version': typeof e.version === 'string' ? e.version : '2024-11-13' }),
  },
};

function probeFor(type: string): Probe | undefined {
  if (PROBES[type]) return PROBES[type];
  if (/openai|compat|whisper/i.test(type)) return PROBES.openai;
  return Object.entries(PROBES).find(([name]) => type.toLowerCase().includes(name))?.[1];
}

export function onPath(bin: string, pathEnv = process.env.PATH ?? ''): boolean {
  return pathEnv.split(delimiter).some((d) => d && existsSync(join(d, bin)));
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

export function hasLibrary(file: string, dirs = LIB_DIRS): boolean {
  return dirs.some((d) => existsSync(join(d, file)));
}

function checkEmbedded(role: string): CheckResult {
  const name = `${role} embedded`;
  if (role === 'tts') return onPath('flite') ? pass(name, 'flite found') : fail(name, 'flite not installed (Debian: apt-get install flite; run scripts/install.sh)');
  if (role === 'stt') {
    return hasLibrary('libpocketsphinx.so.3') || hasLibrary('libpocketsphinx.so')
      ? pass(name, 'libpocketsphinx found')
      : fail(name, 'libpocketsphinx not installed (Debian: apt-get install libpocketsphinx3 pocketsphinx-en-us)');
  }
  return pass(name, 'scripted campaign brain, nothing to reach');
}

async function checkCloud(role: string, index: number, entry: ProviderEntryLike, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const name = `${role}[${index}] ${entry.type}`;
  const probe = probeFor(entry.type);
  if (!probe) return pass(name, 'no cheap auth probe known for this provider type; not checked', true);
  const envName = typeof entry.apiKeyEnv === 'string' ? entry.apiKeyEnv : '';
  const key = typeof entry.apiKey === 'string' && entry.apiKey ? entry.apiKey : envName ? (env[envName] ?? '') : '';
  if (!key) return fail(name, `apiKey missing (set apiKey, or the ${envName || 'provider key'} environment variable)`);
  // Streaming vendors are configured with their WebSocket URL; the REST probe uses the same host.
  const base = (typeof entry.baseUrl === 'string' && entry.baseUrl ? entry.baseUrl : probe.defaultBase)
    .replace(/^ws(s?):\/\//, 'http$1://')
    .replace(/\/+$/, '');
  const url = `${base}${probe.path}`;
  try {
    const res = await httpGet(url, probe.headers(key, entry), timeoutMs);
    if (res.status >= 200 && res.status < 300) return pass(name, `key accepted by ${shownUrl(url)}`);
    if (res.status === 401 || res.status === 403) return fail(name, `key rejected by ${shownUrl(url)} (HTTP ${res.status})`);
    if (res.status === 429) return pass(name, `${shownUrl(url)} rate-limited the probe (HTTP 429): key not verified`, true);
    return fail(name, `${shownUrl(url)} answered HTTP ${res.status}`);
  } catch (err) {
    return fail(name, `${shownUrl(url)} ${networkReason(err)}`);
  }
}

export async function checkProviders(
  providers: Record<string, ReadonlyArray<{ type: string }>>,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CheckResult[]> {
  const jobs: Array<Promise<CheckResult>> = [];
  for (const role of ['stt', 'llm', 'tts']) {
    const chain = providers[role] ?? [];
    if (chain.length === 0) jobs.push(Promise.resolve(fail(`${role}`, 'no provider configured')));
    chain.forEach((entry, i) => {
      const e = entry as ProviderEntryLike;
      jobs.push(e.type === 'embedded' ? Promise.resolve(checkEmbedded(role)) : checkCloud(role, i, e, timeoutMs, env));
    });
  }
  return Promise.all(jobs);
}
