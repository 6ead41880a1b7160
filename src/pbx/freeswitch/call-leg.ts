/**
 * One FreeSWITCH channel bound to one agent CallSession: inbound frames go through a playout buffer
 * and are pushed on the shared ticker; each tick's outbound frame goes to the transport (unicast UDP or
 * mod_audio_stream). The agent's hangup/transfer actions become ESL api calls; a hangup on either side
 * ends both. Every failure here ends this call only.
 */
import type pino from 'pino';
import type { WebSocket, RawData } from 'ws';
import type { CallAction, CallSession } from '../../agent/call-port.ts';
import type { TransferTarget } from '../../config/schema.ts';
import type { FreeswitchConfig } from '../../config/freeswitch.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import { errorMessage } from '../../errors.ts';
import { audioStreamStop, isOk, kill, setVar, transfer, type ApiCall } from './commands.ts';
import { Decimate2, L16Framer, readL16 } from './l16.ts';
import { PlayoutBuffer } from './playout-buffer.ts';
import type { FreeswitchCounters, OutboundTransport, TickerLike } from './transport.ts';

export interface LegDeps {
  config: FreeswitchConfig;
  transfers: Readonly<Record<string, TransferTarget>>;
  api: (call: ApiCall) => Promise<string>;
  ticker: TickerLike;
  counters: FreeswitchCounters;
  log: pino.Logger;
  /** Called once when the leg is finished and its resources are released. */
  onDone: (leg: CallLeg) => void;
}

export class CallLeg {
  private readonly playout: PlayoutBuffer;
  private transport: OutboundTransport | null = null;
  private removeTick: (() => void) | null = null;
  private ws: WebSocket | null = null;
  private channelGone = false;
  private transferred = false;
  private ended = false;
  /** The agent asked for a transfer that is under way (uuid_setvar / uuid_transfer in flight or done). */
  private transferring = false;
  private done = false;
  /** The agent's hangup/transfer in progress: the end of the call waits for it instead of killing. */
  private terminal: Promise<unknown> | null = null;
  private flushListener: (() => void) | null = null;
  /** Test/bench probe: called with each outbound frame handed to the transport. */
  onOutbound: ((frame: Pcm | null) => void) | null = null;

  constructor(
    readonly uuid: string,
    readonly session: CallSession,
    private readonly deps: LegDeps,
  ) {
    this.playout = new PlayoutBuffer(deps.config.playoutFrames, deps.config.playoutMaxFrames);
    session.on('action', (action) => this.onAction(action));
    session.on('ended', () => this.onSessionEnded());
    // Optional hook: a CallSession that announces barge-in flushes (see freeswitch-conf/README.md).
    const emitter = session as unknown as { on?: (e: string, f: () => void) => unknown };
    if (typeof emitter.on === 'function') {
      this.flushListener = () => this.transport?.flush();
      emitter.on.call(session, 'flush', this.flushListener);
    }
  }

  get active(): boolean {
    return !this.done;
  }

  /** Inbound frame from the transport (already 160 samples at 8 kHz). */
  feed = (frame: Pcm): void => {
    if (this.done) return;
    this.deps.counters.framesIn++;
    this.playout.put(frame);
  };

  /** The transport is up: start the agent and the 20 ms clock. */
  async begin(transport: OutboundTransport): Promise<void> {
    this.transport = transport;
    try {
      await this.session.start();
    } catch (err) {
      this.deps.log.warn({ uuid: this.uuid, err: errorMessage(err) }, 'agent failed to start');
      this.fail('agent start failed');
      return;
    }
    if (this.done || this.ended) return;
    const ticker = this.deps.ticker;
    this.removeTick = ticker.add(() => this.tick(), 'inbound', ticker.nextSlot?.() ?? 0);
  }

  private tick(): void {
    if (this.done) return;
    const { frame } = this.playout.take();
    this.session.pushInbound(frame);
    if (this.done) return;
    const out = this.session.pullOutbound();
    if (out) this.deps.counters.framesOut++;
    this.onOutbound?.(out);
    this.transport?.sendFrame(out);
  }

  /** mod_audio_stream connected for this call: first text frame = metadata, then binary L16. */
  attachStream(ws: WebSocket, rate: 8000 | 16000): void {
    if (this.done) {
      ws.close(1000, 'call over');
      return;
    }
    this.ws = ws;
    const framer = new L16Framer();
    const down = rate === 16000 ? new Decimate2() : null;
    const bytesPer20ms = rate === 16000 ? 640 : 320;
    let metadataSeen = false;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.done) return;
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!isBinary) {
        if (!metadataSeen) {
          metadataSeen = true;
          this.deps.log.debug({ uuid: this.uuid, bytes: buf.length }, 'mod_audio_stream metadata');
        }
        return;
      }
      if (buf.length === 0 || buf.length % bytesPer20ms !== 0) {
        this.badStream(`binary frame of ${buf.length} bytes is not a whole number of 20 ms L16 frames at ${rate} Hz`);
        return;
      }
      if (down) {
        const narrow = down.process(readL16(buf));
        framer.push(new Uint8Array(narrow.buffer, narrow.byteOffset, narrow.byteLength), this.feed);
      } else {
        framer.push(buf, this.feed);
      }
    });
    ws.on('error', (err) => {
      // ws raises this for frames over maxPayload (then closes with 1009) and protocol violations.
      this.badStream(`WebSocket error: ${err.message}`);
    });
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null;
    });
  }

  sendText(text: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(text);
    return true;
  }

  private badStream(reason: string): void {
    this.deps.counters.malformedFrames++;
    this.deps.log.warn({ uuid: this.uuid, reason }, 'closing this call\'s audio stream');
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState === ws.OPEN) ws.close(1003, 'bad audio frame');
    this.fail(reason);
  }

  /** Transport-level failure: the caller cannot be served; end the agent and hang up. */
  fail(reason: string): void {
    if (this.ended) return;
    this.deps.counters.callsFailed++;
    this.session.end('error', reason);
    this.onSessionEnded();
  }

  dtmf(digit: string): void {
    if (this.done || !/^[0-9A-D*#]$/i.test(digit)) return;
    this.deps.counters.dtmf++;
    this.session.dtmf(digit.toUpperCase());
  }

  /** CHANNEL_HANGUP(_COMPLETE) from FreeSWITCH, or uuid_exists false after an ESL reconnect. */
  remoteHangup(cause: string): void {
    if (this.channelGone) return;
    this.channelGone = true;
    if (!this.ended) this.deps.counters.hangupsByCaller++;
    if (this.transferring && !this.transferred) {
      this.deps.counters.transfersAbandoned++;
      this.session.end('caller-hangup', `caller hung up during the transfer (${cause})`);
    } else this.session.end(this.transferred ? 'transferred' : 'caller-hangup', cause);
    this.onSessionEnded();
  }

  /** Adapter shutdown. */
  shutdown(): void {
    this.session.end('shutdown');
    this.onSessionEnded();
  }

  private onAction(action: CallAction): void {
    if (this.done) return;
    if (action.type === 'hangup') {
      this.deps.counters.hangupsByAgent++;
      this.terminal ??= this.hangup();
    } else if (action.type === 'transfer') {
      if (this.terminal) return;
      const target = this.deps.transfers[action.target];
      if (!target?.extension) {
        this.deps.counters.transfersRejected++;
        this.deps.log.warn({ uuid: this.uuid, target: action.target }, 'transfer target not configured for FreeSWITCH (needs transfers.<name>.extension)');
        // The agent waits for the transfer: end the call; with nothing under way, that hangs up.
        this.session.end('error', `transfer target ${action.target} not configured`);
        return;
      }
      this.transferring = true;
      this.terminal = this.transferTo(action.target, target.extension, target.context, action.summary);
    } else if (action.type === 'set_disposition') {
      void this.call(setVar(this.uuid, this.deps.config.dispositionVariable, action.status), 'uuid_setvar');
    }
    // schedule_callback / add_to_dnc belong to the VICIdial sink.
  }

  private async hangup(): Promise<void> {
    if (this.channelGone) return;
    this.channelGone = true;
    await this.call(kill(this.uuid), 'uuid_kill');
  }

  private async transferTo(name: string, extension: string, context: string | undefined, summary: string): Promise<void> {
    const cfg = this.deps.config;
    await this.call(setVar(this.uuid, cfg.summaryVariable, summary), 'uuid_setvar');
    this.transport?.flush();
    if (cfg.playback === 'stream-audio') await this.call(audioStreamStop(this.uuid), 'uuid_audio_stream stop');
    const ok = await this.call(transfer(this.uuid, extension, cfg.transferDialplan, context ?? cfg.defaultTransferContext), 'uuid_transfer');
    if (!ok) {
      // The caller must not be left with an agent that has said goodbye: end the call, hang up.
      if (!this.channelGone) {
        this.session.end('error', 'transfer failed');
        await this.hangup();
      }
      return;
    }
    this.transferred = true;
    this.deps.counters.transfers++;
    this.session.end('transferred', name);
    this.onSessionEnded();
  }

  private async call(c: ApiCall, what: string): Promise<boolean> {
    try {
      const reply = await this.deps.api(c);
      if (isOk(reply)) return true;
      this.deps.counters.apiErrors++;
      this.deps.log.warn({ uuid: this.uuid, reply: reply.trim() }, `${what} refused`);
    } catch (err) {
      this.deps.counters.apiErrors++;
      this.deps.log.warn({ uuid: this.uuid, err: errorMessage(err) }, `${what} failed`);
    }
    return false;
  }

  /** The agent's call is over (any reason): stop media, hang up unless already gone or transferred. */
  private onSessionEnded(): void {
    if (this.ended) return;
    this.ended = true;
    this.removeTick?.();
    this.removeTick = null;
    this.transport?.close();
    const ws = this.ws;
    this.ws = null;
    const finish = (): void => {
      if (ws && ws.readyState === ws.OPEN) ws.close(1000, 'call over');
      this.release();
    };
    if (this.terminal) {
      void this.terminal.finally(finish);
    } else if (!this.channelGone && !this.transferred) {
      this.channelGone = true;
      void this.call(kill(this.uuid), 'uuid_kill').finally(finish);
    } else {
      finish();
    }
  }

  private release(): void {
    if (this.done) return;
    this.done = true;
    this.playout.clear();
    this.deps.counters.playoutUnderruns += this.playout.underruns;
    this.deps.counters.playoutOverflows += this.playout.overflows;
    if (this.flushListener) {
      const emitter = this.session as unknown as { off?: (e: string, f: () => void) => unknown };
      emitter.off?.call(this.session, 'flush', this.flushListener);
    }
    this.deps.counters.callsEnded++;
    this.deps.onDone(this);
  }
}
