/**
 * PBX checks: Asterisk ARI over HTTP (reachability, credentials, version >= 16.6 for
 * ExternalMedia, the Stasis app) and FreeSWITCH ESL over TCP (reachability, `auth`, version,
 * mod_audio_stream loaded).
 */
import { connect } from 'node:net';
import type { Config } from '../config/schema.ts';
import { fail, httpGet, networkReason, pass, shownUrl, type CheckResult } from './check.ts';

/** Only the fields the checks read, so the adapters' sections can grow freely. */
type AsteriskCfg = Pick<NonNullable<Config['asterisk']>, 'url' | 'username' | 'password' | 'app'>;
type FreeswitchCfg = Pick<NonNullable<Config['freeswitch']>, 'host' | 'port' | 'password'>;

/** ari-client takes the server root; accept a URL that already ends in /ari too. */
export function ariBase(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith('/ari') ? trimmed : `${trimmed}/ari`;
}

/** "18.21.0-vici" -> [18, 21, 0]; null when unparseable. */
export function parseAsteriskVersion(v: string): [number, number, number] | null {
  const m = /^(?:certified[/-])?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

export function supportsExternalMedia(v: [number, number, number]): boolean {
  const [maj, min] = v;
  return maj > 17 || (maj === 17 && min >= 1) || (maj === 16 && min >= 6);
}

export async function checkAri(cfg: AsteriskCfg, timeoutMs: number): Promise<CheckResult[]> {
  const base = ariBase(cfg.url);
  const auth = { authorization: `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}` };
  let info;
  try {
    info = await httpGet(`${base}/asterisk/info`, auth, timeoutMs);
  } catch (err) {
    return [fail('asterisk ari', `${shownUrl(base)} ${networkReason(err)}`)];
  }
  if (info.status === 401 || info.status === 403) {
    return [fail('asterisk ari', `${shownUrl(base)} rejected user '${cfg.username}' (HTTP ${info.status}): check ari.conf`)];
  }
  if (info.status !== 200) return [fail('asterisk ari', `${shownUrl(base)}/asterisk/info answered HTTP ${info.status}`)];
  let version = '';
  try {
    version = String((JSON.parse(info.body) as { system?: { version?: unknown } }).system?.version ?? '');
  } catch {
    return [fail('asterisk ari', 'asterisk/info did not answer JSON: is this an ARI endpoint?')];
  }
  const parsed = parseAsteriskVersion(version);
  const results: CheckResult[] = [];
  if (!parsed) results.push(fail('asterisk ari', `connected as '${cfg.username}', but version '${version}' is unreadable`));
  else if (!supportsExternalMedia(parsed)) {
    results.push(fail('asterisk ari', `Asterisk ${version} has no ExternalMedia (needs >= 16.6): upgrade Asterisk or use the FreeSWITCH path`));
  } else results.push(pass('asterisk ari', `connected as '${cfg.username}', Asterisk ${version}`));

  try {
    const app = await httpGet(`${base}/applications/${encodeURIComponent(cfg.app)}`, auth, timeoutMs);
    if (app.status === 200) results.push(pass('asterisk app', `Stasis app '${cfg.app}' registered (the daemon is connected)`));
    else if (app.status === 404) {
      results.push(pass('asterisk app', `Stasis app '${cfg.app}' not registered yet: normal while the daemon is stopped; dialplan must use Stasis(${cfg.app})`, true));
    } else results.push(fail('asterisk app', `applications/${cfg.app} answered HTTP ${app.status}`));
  } catch (err) {
    results.push(fail('asterisk app', networkReason(err)));
  }
  return results;
}

/** One ESL exchange: read frames (headers + optional Content-Length body) off a socket. */
class EslReader {
  private buf = '';
  private waiters: Array<() => void> = [];
  constructor(socket: import('node:net').Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async frame(deadline: number): Promise<{ headers: Record<string, string>; body: string } | null> {
    for (;;) {
      const end = this.buf.indexOf('\n\n');
      if (end >= 0) {
        const headers: Record<string, string> = {};
        for (const line of this.buf.slice(0, end).split('\n')) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const len = Number(headers['content-length'] ?? 0);
        if (this.buf.length >= end + 2 + len) {
          const body = this.buf.slice(end + 2, end + 2 + len);
          this.buf = this.buf.slice(end + 2 + len);
          return { headers, body };
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      if (Date.now() >= deadline && this.buf.indexOf('\n\n') < 0) return null;
    }
  }
}

export async function checkEsl(cfg: FreeswitchCfg, timeoutMs: number): Promise<CheckResult[]> {
  const where = `${cfg.host}:${cfg.port}`;
  const socket = connect({ host: cfg.host, port: cfg.port });
  const deadline = Date.now() + timeoutMs;
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(t);
        reject(Object.assign(new Error('connect failed'), { cause: err }));
      });
    });
  } catch (err) {
    socket.destroy();
    return [fail('freeswitch esl', `${where} ${networkReason(err)}`)];
  }
  socket.on('error', () => undefined);
  const reader = new EslReader(socket);
  try {
    const hello = await reader.frame(deadline);
    if (hello?.headers['content-type'] !== 'auth/request') return [fail('freeswitch esl', `${where} did not ask for auth: not an ESL socket?`)];
    socket.write(`auth ${cfg.password}\n\n`);
    const reply = await reader.frame(deadline);
    const text = reply?.headers['reply-text'] ?? '';
    if (!text.startsWith('+OK')) return [fail('freeswitch esl', `${where} refused the password (${text.startsWith('-ERR') ? text : 'no reply'}): check event_socket.conf.xml`)];
    const results: CheckResult[] = [];
    socket.write('api version\n\n');
    const ver = await reader.frame(deadline);
    const version = ver?.body.trim() ?? '';
    results.push(pass('freeswitch esl', `authenticated at ${where}${version ? `, ${version.split('\n')[0]}` : ''}`));
    socket.write('api module_exists mod_audio_stream\n\n');
    const mod = await reader.frame(deadline);
    const loaded = mod?.body.trim() === 'true';
    results.push(loaded ? pass('freeswitch audio_stream', 'mod_audio_stream loaded') : fail('freeswitch audio_stream', 'mod_audio_stream not loaded: build/install it and `load mod_audio_stream`'));
    socket.write('exit\n\n');
    return results;
  } finally {
    socket.end();
    socket.destroy();
  }
}
