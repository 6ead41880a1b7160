/**
 * What a doctor check returns, and the small HTTP helper every network check shares: a timeout,
 * and error text that never carries the request's credentials.
 */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** Informational: ok, but worth a look (printed as WARN, does not fail the run). */
  warn?: boolean;
}

export interface HttpProbe {
  status: number;
  body: string;
}

/** Node's fetch error is "fetch failed" with the useful part in `cause`. */
export function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  const code = e?.cause?.code;
  if (code) return `unreachable (${code})`;
  return `unreachable (${e?.cause?.message ?? e?.message ?? 'unknown error'})`;
}

export async function httpGet(url: string, headers: Record<string, string>, timeoutMs: number): Promise<HttpProbe> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  const body = await res.text();
  return { status: res.status, body };
}

/** The URL without user info or query string, safe to print. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/** Last line of defence: any configured secret that slipped into a detail is blanked. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('***');
  return out;
}

export function fail(name: string, detail: string): CheckResult {
  return { name, ok: false, detail };
}

export function pass(name: string, detail: string, warn = false): CheckResult {
  return warn ? { name, ok: true, detail, warn } : { name, ok: true, detail };
}
