/**
 * The ARI REST calls the adapter makes, through `ari-client`'s swagger-generated operations, with a
 * timeout each (ari-client has none: a stuck Asterisk must not hold a call's set-up forever) and
 * errors turned into PBX_REQUEST BridgeErrors. ari-client keeps only the response body of a failed
 * call (`{"message":"Channel not found"}`), so the HTTP status is recovered from Asterisk's messages.
 */
import type { AriClient, AriOperation } from 'ari-client';
import { BridgeError, errorMessage } from '../../errors.ts';
import type { AriChannelJson } from './call-context.ts';

/** Asterisk's error messages -> their status (res/ari/resource_*.c). */
function statusOf(message: string): number | undefined {
  if (/not found/i.test(message)) return 404;
  if (/not in Stasis|already exists|already in a bridge|in use/i.test(message)) return 409;
  if (/invalid state/i.test(message)) return 412;
  if (/Authentication required|Unauthorized/i.test(message)) return 401;
  if (/required|missing|must be|Invalid/i.test(message)) return 400;
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof BridgeError && err.code === 'PBX_REQUEST' && err.context.status === 404;
}

export class AriRest {
  constructor(
    private readonly client: AriClient,
    private readonly timeoutMs: number,
  ) {}

  private async op<T>(resource: 'channels' | 'bridges' | 'asterisk', name: string, params: Record<string, unknown>): Promise<T> {
    const fn: AriOperation | undefined = this.client[resource]?.[name];
    if (typeof fn !== 'function') {
      throw new BridgeError('PBX_PROTOCOL', `this Asterisk's ARI has no ${resource}.${name}`, { op: `${resource}.${name}` });
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return (await Promise.race([
        fn(params),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new BridgeError('PBX_REQUEST', `ARI ${resource}.${name} timed out after ${this.timeoutMs} ms`, { op: `${resource}.${name}`, timeout: true })), this.timeoutMs);
        }),
      ])) as T;
    } catch (err) {
      if (err instanceof BridgeError) throw err;
      const text = errorMessage(err);
      let message = text;
      try {
        const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
        message = String(parsed.message ?? parsed.error ?? text);
      } catch {
        /* not JSON: transport error text */
      }
      const status = statusOf(message);
      throw new BridgeError('PBX_REQUEST', `ARI ${resource}.${name} failed: ${message}`, { op: `${resource}.${name}`, ...(status ? { status } : {}), ariMessage: message }, { cause: err });
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  answer(channelId: string): Promise<void> {
    return this.op('channels', 'answer', { channelId });
  }

  getChannel(channelId: string): Promise<AriChannelJson> {
    return this.op('channels', 'get', { channelId });
  }

  listChannels(): Promise<AriChannelJson[]> {
    return this.op('channels', 'list', {});
  }

  listBridges(): Promise<Array<{ id: string; channels: string[] }>> {
    return this.op('bridges', 'list', {});
  }

  /** undefined when the variable is not set (Asterisk answers 404). */
  async getVar(channelId: string, variable: string): Promise<string | undefined> {
    try {
      const r = await this.op<{ value?: string }>('channels', 'getChannelVar', { channelId, variable });
      return r?.value;
    } catch (err) {
      if (isNotFound(err) && /variable/i.test(String((err as BridgeError).context.ariMessage))) return undefined;
      throw err;
    }
  }

  setVar(channelId: string, variable: string, value: string): Promise<void> {
    return this.op('channels', 'setChannelVar', { channelId, variable, value });
  }

  createBridge(bridgeId: string, name: string): Promise<{ id: string }> {
    return this.op('bridges', 'createWithId', { bridgeId, type: 'mixing', name });
  }

  addChannel(bridgeId: string, channel: string): Promise<void> {
    return this.op('bridges', 'addChannel', { bridgeId, channel });
  }

  destroyBridge(bridgeId: string): Promise<void> {
    return this.op('bridges', 'destroy', { bridgeId });
  }

  externalMedia(p: { channelId: string; app: string; externalHost: string; format: string }): Promise<AriChannelJson> {
    return this.op('channels', 'externalMedia', {
      channelId: p.channelId,
      app: p.app,
      external_host: p.externalHost,
      format: p.format,
      encapsulation: 'rtp',
      transport: 'udp',
      connection_type: 'client',
      direction: 'both',
    });
  }

  hangup(channelId: string, reason = 'normal'): Promise<void> {
    return this.op('channels', 'hangup', { channelId, reason });
  }

  continueInDialplan(channelId: string, target: { context?: string; extension?: string; priority?: number }): Promise<void> {
    const params: Record<string, unknown> = { channelId };
    if (target.context) params.context = target.context;
    if (target.extension) params.extension = target.extension;
    if (target.priority !== undefined && (target.context || target.extension)) params.priority = target.priority;
    return this.op('channels', 'continueInDialplan', params);
  }

  play(channelId: string, media: string, playbackId: string): Promise<unknown> {
    return this.op('channels', 'play', { channelId, media, playbackId });
  }

  asteriskInfo(): Promise<{ system?: { version?: string } }> {
    return this.op('asterisk', 'getInfo', {});
  }
}
