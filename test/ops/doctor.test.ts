import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcp, type Server as TcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { opsSchema } from '../../src/config/ops.ts';
import { doctorCommand } from '../../src/ops/cli-doctor.ts';
import { checkDisk, checkRtpIo, checkRtpRange, parseRtpConf } from '../../src/ops/check-host.ts';
import { checkAri, checkEsl, parseAsteriskVersion, supportsExternalMedia } from '../../src/ops/check-pbx.ts';
import { checkProviders } from '../../src/ops/check-providers.ts';
import { checkVicidial } from '../../src/ops/check-vicidial.ts';
import { doctorExitCode, formatResults, runDoctor } from '../../src/ops/doctor.ts';

const ARI_PASS = 'ari-Secret-991';
const ESL_PASS = 'esl-Secret-992';
const VICI_PASS = 'vici-Secret-993';
const KEY = 'sk-good-key-994';

let asteriskVersion = '20.5.2';
const servers: Array<Server | TcpServer> = [];
let ariUrl = '';
let eslPort = 0;
let viciUrl = '';
let provUrl = '';
let tmp = '';

function listen(s: Server | TcpServer): Promise<number> {
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'doctor-'));
  // Asterisk ARI: basic auth, /ari/asterisk/info, /ari/applications/{app}
  ariUrl = `http://127.0.0.1:${await listen(
    createHttp((req: IncomingMessage, res) => {
      const expected = `Basic ${Buffer.from(`ai-bridge:${ARI_PASS}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return send(res, 401, '{"message":"Authentication required"}');
      if (req.url === '/ari/asterisk/info') return send(res, 200, JSON.stringify({ system: { version: asteriskVersion, entity_id: 'x' }, build: {}, config: {}, status: {} }));
      if (req.url === '/ari/applications/ai-agent') return send(res, 404, '{"message":"Application not found"}');
      return send(res, 404, '{}');
    }),
  )}`;
  // FreeSWITCH ESL
  eslPort = await listen(
    createTcp((sock) => {
      sock.write('Content-Type: auth/request\n\n');
      let buf = '';
      let authed = false;
      sock.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const cmd = buf.slice(0, i).trim();
          buf = buf.slice(i + 2);
          if (cmd.startsWith('auth ')) {
            authed = cmd.slice(5) === ESL_PASS;
            sock.write(`Content-Type: command/reply\nReply-Text: ${authed ? '+OK accepted' : '-ERR invalid'}\n\n`);
            if (!authed) sock.end('Content-Type: text/disconnect-notice\nContent-Length: 0\n\n');
          } else if (cmd === 'api version' && authed) {
            const body = 'FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n';
            sock.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
          } else if (cmd === 'api module_exists mod_audio_stream' && authed) {
            sock.write('Content-Type: api/response\nContent-Length: 4\n\ntrue');
          } else if (cmd === 'exit') sock.end();
        }
      });
      sock.on('error', () => undefined);
    }),
  );
  // VICIdial Non-Agent API
  viciUrl = `http://127.0.0.1:${await listen(
    createHttp((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname !== '/vicidial/non_agent_api.php') return send(res, 404, 'not found', 'text/html');
      const q = u.searchParams;
      if (q.get('function') === 'version') return send(res, 200, 'VERSION: 2.14-917a|BUILD: 240114-1049|DATE: 2025-03-04 10:00:00|EPOCH: 1741082400|DST: 0|TZ: -5|TZNOW: -5|\n', 'text/plain');
      if (q.get('user') !== 'apiuser' || q.get('pass') !== VICI_PASS) {
        // VICIdial echoes the credentials back on a bad login.
        return send(res, 200, `ERROR: Login incorrect, please try again: |${q.get('user')}|${q.get('pass')}|${q.get('function')}|\n`, 'text/plain');
      }
      if (q.get('function') === 'update_lead' && q.get('no_update') === 'Y') return send(res, 200, 'NOTICE: update_lead NO MATCHES FOUND IN THE SYSTEM - apiuser|0|||\n', 'text/plain');
      return send(res, 200, 'ERROR: NO FUNCTION SPECIFIED\n', 'text/plain');
    }),
  )}`;
  // Provider APIs (one server, routed by path, each with its own auth header)
  provUrl = `http://127.0.0.1:${await listen(
    createHttp((req, res) => {
      const h = req.headers;
      const ok =
        (req.url === '/v1/models' && h.authorization === `Bearer ${KEY}`) ||
        (req.url === '/v1/projects' && h.authorization === `Token ${KEY}`) ||
        (req.url === '/v1/user' && h['xi-api-key'] === KEY) ||
        (req.url === '/voices' && h['x-api-key'] === KEY && !!h['cartesia-version']);
      return send(res, ok ? 200 : 401, ok ? '{"data":[]}' : '{"error":"invalid api key"}');
    }),
  )}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(tmp, { recursive: true, force: true });
});

describe('ARI check', () => {
  it('passes with good credentials and reports version and app state', async () => {
    asteriskVersion = '20.5.2';
    const r = await checkAri({ url: ariUrl, username: 'ai-bridge', password: ARI_PASS, app: 'ai-agent' }, 2000);
    expect(r.map((c) => [c.name, c.ok])).toEqual([['asterisk ari', true], ['asterisk app', true]]);
    expect(r[0].detail).toContain('Asterisk 20.5.2');
    expect(r[1].warn).toBe(true);
  });
  it('fails on bad credentials, old Asterisk, and nobody listening', async () => {
    const bad = await checkAri({ url: ariUrl, username: 'ai-bridge', password: 'wrong', app: 'ai-agent' }, 2000);
    expect(bad[0]).toMatchObject({ ok: false });
    expect(bad[0].detail).toMatch(/rejected user 'ai-bridge' \(HTTP 401\)/);
    asteriskVersion = '13.38.3-vici';
    const old = await checkAri({ url: `${ariUrl}/ari`, username: 'ai-bridge', password: ARI_PASS, app: 'ai-agent' }, 2000);
    expect(old[0].ok).toBe(false);
    expect(old[0].detail).toMatch(/needs >= 16\.6/);
    asteriskVersion = '20.5.2';
    const closed = createHttp();
    const closedPort = await new Promise<number>((r) => closed.listen(0, '127.0.0.1', () => r((closed.address() as { port: number }).port)));
    await new Promise((r) => closed.close(r));
    const down = await checkAri({ url: `http://127.0.0.1:${closedPort}`, username: 'u', password: 'p', app: 'a' }, 2000);
    expect(down[0].detail).toMatch(/unreachable \(ECONNREFUSED\)/);
  });
  it('knows which versions have ExternalMedia', () => {
    expect(supportsExternalMedia(parseAsteriskVersion('16.6.0')!)).toBe(true);
    expect(supportsExternalMedia(parseAsteriskVersion('16.5.1')!)).toBe(false);
    expect(supportsExternalMedia(parseAsteriskVersion('18.21.0-vici')!)).toBe(true);
    expect(parseAsteriskVersion('GIT-master-abc')).toBeNull();
  });
});

describe('ESL check', () => {
  it('authenticates, reads the version and finds mod_audio_stream', async () => {
    const r = await checkEsl({ host: '127.0.0.1', port: eslPort, password: ESL_PASS }, 2000);
    expect(r.every((c) => c.ok)).toBe(true);
    expect(r[0].detail).toContain('FreeSWITCH Version 1.10.12');
  });
  it('fails on a wrong password and on a closed port', async () => {
    const r = await checkEsl({ host: '127.0.0.1', port: eslPort, password: 'nope' }, 2000);
    expect(r).toHaveLength(1);
    expect(r[0].ok).toBe(false);
    expect(r[0].detail).toMatch(/refused the password \(-ERR invalid\)/);
    const down = await checkEsl({ host: '127.0.0.1', port: 1, password: 'x' }, 2000);
    expect(down[0].detail).toMatch(/ECONNREFUSED/);
  });
});

describe('provider checks', () => {
  it('probes each vendor with its own auth header', async () => {
    const good = await checkProviders(
      {
        stt: [{ type: 'deepgram', apiKeyEnv: 'TEST_DG_KEY', baseUrl: provUrl.replace('http:', 'ws:') } as { type: string }],
        llm: [{ type: 'openai', apiKey: KEY, baseUrl: `${provUrl}/v1` } as { type: string }],
        tts: [{ type: 'elevenlabs', apiKey: KEY, baseUrl: provUrl } as { type: string }, { type: 'cartesia', apiKey: KEY, baseUrl: provUrl } as { type: string }],
      },
      2000,
      { TEST_DG_KEY: KEY },
    );
    expect(good.map((c) => [c.name, c.ok])).toEqual([
      ['stt[0] deepgram', true],
      ['llm[0] openai', true],
      ['tts[0] elevenlabs', true],
      ['tts[1] cartesia', true],
    ]);
    const bad = await checkProviders({ stt: [{ type: 'deepgram', apiKey: 'sk-bad-key-1', baseUrl: provUrl } as { type: string }], llm: [{ type: 'openai', baseUrl: provUrl } as { type: string }], tts: [] }, 2000);
    expect(bad.map((c) => c.ok)).toEqual([false, false, false]);
    expect(bad[0].detail).toMatch(/key rejected .* \(HTTP 401\)/);
    expect(bad[1].detail).toMatch(/apiKey missing/);
    expect(bad[2].detail).toMatch(/no provider configured/);
    expect(JSON.stringify(bad)).not.toContain('sk-bad-key-1');
  });
});

describe('VICIdial check', () => {
  it('passes with a permitted API user', async () => {
    const r = await checkVicidial({ url: viciUrl, user: 'apiuser', pass: VICI_PASS, source: 'aibridge' }, 2000);
    expect(r.map((c) => c.ok)).toEqual([true, true]);
    expect(r[0].detail).toContain('2.14-917a');
  });
  it('fails a bad login without echoing the password VICIdial sends back', async () => {
    const r = await checkVicidial({ url: `${viciUrl}/vicidial`, user: 'apiuser', pass: 'Wr0ngPass', source: 'aibridge' }, 2000);
    expect(r[1].ok).toBe(false);
    expect(r[1].detail).toMatch(/login incorrect/);
    expect(JSON.stringify(r)).not.toContain('Wr0ngPass');
  });
});

describe('host checks', () => {
  it('parses rtp.conf and flags an overlapping or busy range', async () => {
    expect(parseRtpConf('[general]\nrtpstart=10000 ; comment\nrtpend = 20000\n[other]\nrtpstart=1\n')).toEqual({ start: 10000, end: 20000 });
    const conf = join(tmp, 'rtp.conf');
    await writeFile(conf, '[general]\nrtpstart=30000\nrtpend=40010\n');
    const overlap = await checkRtpRange({ bindAddress: '127.0.0.1', rtpPortMin: 40000, rtpPortMax: 40099, rtpConfPath: conf, samplePorts: 3 });
    expect(overlap[0]).toMatchObject({ name: 'rtp overlap', ok: false });
    const busy = createSocket('udp4');
    const busyPort = await new Promise<number>((r) => busy.bind(0, '127.0.0.1', () => r(busy.address().port)));
    try {
      const r = await checkRtpRange({ bindAddress: '127.0.0.1', rtpPortMin: busyPort, rtpPortMax: busyPort + 1, rtpConfPath: join(tmp, 'absent.conf'), samplePorts: 2 });
      expect(r[0]).toMatchObject({ name: 'rtp overlap', ok: true, warn: true });
      expect(r[1]).toMatchObject({ name: 'rtp ports', ok: false });
      expect(r[1].detail).toContain(String(busyPort));
    } finally {
      busy.close();
    }
  });
  it('says which RTP socket I/O the config gets on this build: batched, or node:dgram and why', () => {
    expect(checkRtpIo('auto', '127.0.0.1')).toEqual({ name: 'rtp io', ok: true, detail: 'batched (native/rtp-io built)' });
    expect(checkRtpIo('dgram', '127.0.0.1')).toEqual({ name: 'rtp io', ok: true, detail: 'node:dgram sockets (media.rtpIo: dgram)' });
    expect(checkRtpIo('auto', '::1')).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining('IPv4 only') });
    // a box where the addon was not built (no compiler when npm ci ran)
    const missing = () => new Error('native RTP I/O unavailable: Cannot find module rtp_io.node');
    expect(checkRtpIo('auto', '127.0.0.1', missing)).toMatchObject({ ok: true, warn: true, detail: expect.stringMatching(/node:dgram sockets, more CPU per call: .*Cannot find module/) });
    expect(checkRtpIo('native', '127.0.0.1', missing)).toMatchObject({ ok: false, detail: expect.stringMatching(/media\.rtpIo is "native" but .*Cannot find module/) });
  });

  it('checks free disk space under the records dir', async () => {
    expect((await checkDisk(join(tmp, 'records'), 1)).ok).toBe(true);
    const r = await checkDisk(join(tmp, 'records'), 1e12);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/MB free under .*need >= 1000000000000 MB/);
  });
});

describe('runDoctor', () => {
  const cfgFor = (pw: { ari: string; esl: string; vici: string }) =>
    validateConfig({
      asterisk: { url: ariUrl, username: 'ai-bridge', password: pw.ari, app: 'ai-agent' },
      freeswitch: { host: '127.0.0.1', port: eslPort, password: pw.esl },
      vicidial: { url: viciUrl, user: 'apiuser', pass: pw.vici },
      // Above Linux's ephemeral range (32768-60999) and clear of other tests' pools: the RTP check binds
      // sample ports of this range, and any socket another test opens on port 0 could hold one.
      media: { bindAddress: '127.0.0.1', rtpPortMin: 65100, rtpPortMax: 65199 },
      records: { dir: join(tmp, 'records') },
      providers: { stt: [{ type: 'embedded' }], llm: [{ type: 'embedded' }], tts: [{ type: 'embedded' }] },
    });
  const ops = opsSchema.parse({ doctor: { rtpConfPath: join(tmp, 'no-rtp.conf'), minFreeDiskMb: 1, timeoutMs: 2000 } });

  it('prints one line per check, exit 0 when the PBXs, API and host are fine', async () => {
    const results = await runDoctor(cfgFor({ ari: ARI_PASS, esl: ESL_PASS, vici: VICI_PASS }), { ops });
    const pbxAndApi = results.filter((r) => /asterisk|freeswitch|vicidial|rtp|disk/.test(r.name));
    expect(pbxAndApi.every((r) => r.ok)).toBe(true);
    const text = formatResults(results);
    expect(text.split('\n')).toHaveLength(results.length);
    expect(text).toMatch(/^OK {3}asterisk ari/m);
    expect(text).toMatch(/^OK {3}rtp io +batched/m);
  });

  it('exits non-zero on bad credentials and never prints a secret', async () => {
    const lines: string[] = [];
    const code = await doctorCommand(cfgFor({ ari: 'bad-ari-pw-1', esl: 'bad-esl-pw-2', vici: 'bad-vici-pw-3' }), {}, (l) => lines.push(l), ops);
    expect(code).toBe(1);
    const out = lines.join('\n');
    expect(out).toMatch(/^FAIL asterisk ari/m);
    expect(out).toMatch(/^FAIL freeswitch esl/m);
    expect(out).toMatch(/^FAIL vicidial user/m);
    expect(out).toMatch(/checks failed/);
    for (const s of ['bad-ari-pw-1', 'bad-esl-pw-2', 'bad-vici-pw-3']) expect(out).not.toContain(s);
    expect(doctorExitCode([{ name: 'x', ok: true, detail: '' }])).toBe(0);
  });
});
