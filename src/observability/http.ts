/**
 * The ops HTTP endpoint: /metrics (Prometheus text), /healthz (the process answers), /readyz (can
 * take a call now). Loopback by default; it has no auth and says nothing secret.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { BridgeMetrics } from './metrics.ts';

export interface ReadyCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: ReadyCheck[];
}

export interface ReadinessInputs {
  /** Per PBX adapter configured: is its control connection up? */
  pbx: Partial<Record<'asterisk' | 'freeswitch', boolean>>;
  /** Provider chains present for every role. */
  providersConfigured: boolean;
  activeCalls: number;
  maxCalls: number;
  draining?: boolean;
  /** The overload guard is refusing new calls (src/ops/overload.ts); detail says why. */
  overloaded?: { detail: string } | null;
}

/** The daemon's readiness rule in one place: every configured PBX up, providers present, room for a call, not draining, not overloaded. */
export function readiness(inp: ReadinessInputs): Readiness {
  const checks: ReadyCheck[] = [];
  const pbxs = Object.entries(inp.pbx) as Array<[string, boolean]>;
  if (pbxs.length === 0) checks.push({ name: 'pbx', ok: false, detail: 'no PBX adapter configured' });
  for (const [name, up] of pbxs) checks.push({ name, ok: up, detail: up ? 'connected' : 'not connected' });
  checks.push({ name: 'providers', ok: inp.providersConfigured, detail: inp.providersConfigured ? 'configured' : 'missing' });
  const room = inp.activeCalls < inp.maxCalls;
  checks.push({ name: 'capacity', ok: room, detail: `${inp.activeCalls}/${inp.maxCalls} calls` });
  if (inp.draining) checks.push({ name: 'draining', ok: false, detail: 'shutting down' });
  if (inp.overloaded) checks.push({ name: 'media load', ok: false, detail: inp.overloaded.detail });
  return { ready: checks.every((c) => c.ok), checks };
}

export interface OpsServerOptions {
  host?: string;
  /** 0 = any free port (tests). */
  port: number;
  metrics: BridgeMetrics;
  ready: () => Readiness | Promise<Readiness>;
  log?: Logger;
}

export interface OpsServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const startedAt = Date.now();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    const handle = async () => {
      switch (path) {
        case '/metrics': {
          const text = await opts.metrics.text();
          res.writeHead(200, { 'content-type': opts.metrics.contentType });
          return void res.end(text);
        }
        case '/healthz':
          return json(res, 200, { status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
        case '/readyz': {
          const r = await opts.ready();
          return json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks });
        }
        default:
          return json(res, 404, { error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] });
      }
    };
    handle().catch((err: unknown) => {
      opts.log?.warn({ err: errorMessage(err), path }, 'ops endpoint failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  opts.log?.info({ host: addr.address, port: addr.port }, 'ops endpoint listening');
  return {
    url: `http://${shownHost}:${addr.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
