import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallSession, InboundTiming } from '../../src/agent/call-port.ts';
import type { Pcm } from '../../src/media/audio-frame.ts';
import { ManualClock } from '../../src/media/clock.ts';
import { buildTelephoneEvents } from '../../src/media/dtmf.ts';
import { ulawDecode, ulawEncode } from '../../src/media/g711.ts';
import { PortPool } from '../../src/media/port-pool.ts';
import { RtpMediaSession } from '../../src/media/rtp-media-session.ts';
import { parseRtp, writeRtp, type RtpPacket } from '../../src/media/rtp-packet.ts';
import { Ticker } from '../../src/media/ticker.ts';
import type { EncodedFrame } from '../../src/providers/types.ts';
import { CallSessionEventsStub } from '../helpers/call-session-events.ts';

const HOST = '127.0.0.1';
// Above Linux's ephemeral range (32768-60999), where no socket bound to port 0 elsewhere can hold
// one (a CI run found all six ports of a pool taken), and clear of the other tests' fixed ranges.
const BASE = 65000 + (process.pid % 5) * 20;

/**
 * A test-local call: records what it hears and says back every non-silent frame (an echo). Like a
 * real reply, the echo starts once a frame is buffered ahead (two frames queued) and then plays
 * the queue out: the frame a tick pulls was heard on an earlier tick.
 */
class EchoCall extends CallSessionEventsStub implements CallSession {
  readonly id = 'echo-1';
  readonly heard: { pcm: Int16Array; encoded?: Uint8Array; codec?: string; ageMs?: number; pendingLoud?: boolean }[] = [];
  readonly digits: string[] = [];
  readonly queue: Int16Array[] = [];
  /** 'push' / 'pull:audio' / 'pull:null', in call order. */
  readonly log: string[] = [];
  greeting: Int16Array[] = [];
  throwOnPush = false;
  turnEndDueAt?: () => number | null;
  pollTurnEnd?: () => boolean;
  hasOutbound?: () => boolean;
  private echoing = false;
  async start(): Promise<void> {}
  pushInbound(frame: Pcm, encoded?: EncodedFrame, timing?: InboundTiming): void {
    this.log.push('push');
    if (this.throwOnPush) throw new Error('agent bug');
    this.heard.push({
      pcm: Int16Array.from(frame), encoded: encoded && Uint8Array.from(encoded.payload), codec: encoded?.codec,
      ageMs: timing?.ageMs, pendingLoud: timing?.pendingAbove(-45),
    });
    if (frame.some((s) => s !== 0)) this.queue.push(Int16Array.from(frame));
  }
  pullOutbound(): Pcm | null {
    const greeting = this.greeting.shift();
    if (greeting) return this.pulled(greeting);
    if (!this.echoing && this.queue.length < 2) return this.pulled(null);
    const f = this.queue.shift() ?? null;
    this.echoing = f !== null;
    return this.pulled(f);
  }
  private pulled(f: Pcm | null): Pcm | null {
    this.log.push(f ? 'pull:audio' : 'pull:null');
    return f;
  }
  dtmf(digit: string): void {
    this.digits.push(digit);
  }
  listeners(): number {
    return this.ee.listenerCount('ended') + this.ee.listenerCount('ready');
  }
  /** A reply's first audio arrived (what the Call emits from its TTS stream). */
  ready(frames: Int16Array[]): void {
    this.greeting.push(...frames);
    this.ee.emit('ready');
  }
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** The far end (plays Asterisk): a UDP socket that records parsed packets. */
async function farEnd(): Promise<{ sock: dgram.Socket; got: RtpPacket[]; port: number }> {
  const sock = dgram.createSocket('udp4');
  const got: RtpPacket[] = [];
  sock.on('message', (m) => {
    const p = parseRtp(m);
    if (!(p instanceof Error)) got.push(p);
  });
  await new Promise<void>((r) => sock.bind(0, HOST, r));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  return { sock, got, port: sock.address().port };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

function tonePayload(k: number): Uint8Array {
  const pcm = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * 160 + i)) / 8000)));
  return ulawEncode(pcm);
}

function rtp(seq: number, payload: Uint8Array, pt = 0, ts = seq * 160, marker = false): Buffer {
  const out = Buffer.alloc(12 + payload.length);
  writeRtp({ payloadType: pt, sequence: seq, timestamp: ts, ssrc: 0xabc, marker }, payload, out);
  return out;
}

async function setup(extra: { remotePort?: number; pool?: PortPool } = {}) {
  const clock = new ManualClock();
  const ticker = new Ticker(clock);
  const call = new EchoCall();
  const pool = extra.pool ?? new PortPool(BASE, BASE + 9);
  const session = await RtpMediaSession.open({
    call,
    ticker,
    pool,
    bindAddress: HOST,
    remote: extra.remotePort ? { address: HOST, port: extra.remotePort } : undefined,
    jitterBufferMs: 60,
    ssrc: 0x5151,
    initialSeq: 65530,
    initialTimestamp: 1000,
  });
  cleanup.push(() => session.close());
  ticker.start();
  cleanup.push(() => ticker.stop());
  return { clock, ticker, call, pool, session };
}

describe('RtpMediaSession over loopback', () => {
  it('echo: inbound RTP -> jitter buffer -> call -> pacer -> RTP back, bit-exact, paced 1 per tick', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    const payloads = Array.from({ length: 10 }, (_, k) => tonePayload(k));
    payloads.forEach((p, k) => far.sock.send(rtp(100 + k, p), session.localPort, HOST));
    await waitFor(() => session.counters().packetsIn === 10, 'inbound packets');

    // One tick per timer, as on a live event loop: each tick's outbound phase runs after its
    // promise jobs, before the next timer.
    for (let t = 0; t < 20; t++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r));
    }
    // 10 audio frames + the 2 concealment frames of the dry tail (attenuated, so the echo returns them too).
    await waitFor(() => far.got.length === 12, 'echoed packets');

    // The call got exactly one frame per tick, silence included.
    expect(call.heard).toHaveLength(20);
    const audio = call.heard.filter((h) => h.pcm.some((s) => s !== 0));
    expect(audio.length).toBeGreaterThanOrEqual(10);
    payloads.forEach((p, k) => {
      expect(Array.from(call.heard[2 + k].encoded!)).toEqual(Array.from(p));
      expect(Array.from(call.heard[2 + k].pcm)).toEqual(Array.from(ulawDecode(p)));
      expect(call.heard[2 + k].codec).toBe('ulaw');
    });
    const echoed = far.got.slice(0, 10);
    echoed.forEach((p, k) => expect(Array.from(p.payload)).toEqual(Array.from(payloads[k])));
    expect(echoed.map((p) => p.sequence)).toEqual([65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3]);
    expect(echoed[0].marker).toBe(true);
    expect(echoed.slice(1).some((p) => p.marker)).toBe(false);
    for (let i = 1; i < 10; i++) expect(echoed[i].timestamp - echoed[i - 1].timestamp).toBe(160);
    expect(echoed.every((p) => p.ssrc === 0x5151 && p.payloadType === 0)).toBe(true);
    const c = session.counters();
    expect(c).toMatchObject({ packetsIn: 10, framesAudio: 10, lost: 0, late: 0 });
    expect(c.framesConcealed).toBe(2); // the dry tail after the last packet
    // The call is told how long each frame waited: all ten arrived before the first tick, and the
    // buffer held them one tick apart; while audio is still buffered it says so.
    const ages = call.heard.slice(2, 12).map((h) => h.ageMs!);
    for (let k = 1; k < ages.length; k++) expect(ages[k] - ages[k - 1]).toBe(20);
    expect(call.heard[2].pendingLoud).toBe(true);
    expect(call.heard[11].pendingLoud).toBe(false);
  });

  it('a reply being spoken goes out at the tick instant, before the inbound work; from silence, after it', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    call.greeting = [1, 2, 3].map((k) => ulawDecode(tonePayload(k)));
    // What had left the socket when each inbound frame was pushed.
    const sentAtPush: number[] = [];
    const push = call.pushInbound.bind(call);
    call.pushInbound = (frame, encoded, timing) => {
      sentAtPush.push(session.counters().packetsOut);
      push(frame, encoded, timing);
    };
    for (let t = 0; t < 5; t++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r));
    }
    // One push and one pull per tick. Tick 1: from silence, the pull follows the push (the outbound
    // phase). Ticks 2-4: talking, the pull comes first (the send phase); tick 4's pull ends the
    // talk-spurt and is that tick's only pull. Tick 5: silence again, push then pull.
    expect(call.log).toEqual([
      'push', 'pull:audio',
      'pull:audio', 'push',
      'pull:audio', 'push',
      'pull:null', 'push',
      'push', 'pull:null',
    ]);
    expect(sentAtPush).toEqual([0, 2, 3, 3, 3]);
    await waitFor(() => far.got.length === 3, 'reply packets');
    expect(far.got.map((p) => p.marker)).toEqual([true, false, false]);
    for (let i = 1; i < 3; i++) expect(far.got[i].timestamp - far.got[i - 1].timestamp).toBe(160);
  });

  it('with a tick lead, a reply being spoken is built ahead and leaves at the instant; a hang-up in between still sends it', async () => {
    const far = await farEnd();
    const sentAtWait: number[] = [];
    let session: RtpMediaSession | null = null;
    class WaitingClock extends ManualClock {
      waitUntil(at: number): void {
        sentAtWait.push(session?.counters().packetsOut ?? -1);
        if (at > this.now()) this.advance(at - this.now());
      }
    }
    const clock = new WaitingClock();
    const ticker = new Ticker(clock, { leadMs: 3 });
    const call = new EchoCall();
    call.greeting = [1, 2, 3].map((k) => ulawDecode(tonePayload(k)));
    session = await RtpMediaSession.open({
      call, ticker, pool: new PortPool(BASE + 10, BASE + 14), bindAddress: HOST, remote: { address: HOST, port: far.port }, jitterBufferMs: 60,
    });
    const s = session;
    cleanup.push(() => s.close());
    const pulledAt: number[] = [];
    const pull = call.pullOutbound.bind(call);
    call.pullOutbound = () => {
      pulledAt.push(clock.now());
      return pull();
    };
    let hangUp = false;
    // A later send subscriber: another call's work in the same send phase, which ends this one.
    ticker.add(() => {
      if (hangUp) void s.close();
    }, 'send');
    ticker.start();
    cleanup.push(() => ticker.stop());
    clock.advance(20);
    await new Promise((r) => setImmediate(r));
    // Tick 1 starts from silence: its pull is in the outbound phase, after the instant.
    expect(pulledAt).toEqual([20]);
    expect(s.counters().packetsOut).toBe(1);
    clock.advance(20);
    await new Promise((r) => setImmediate(r));
    // Tick 2: pulled at 37, ahead; at the wait (37 -> 40) it had not left yet; it left at 40.
    expect(pulledAt).toEqual([20, 37]);
    expect(sentAtWait).toEqual([0, 1]);
    expect(s.counters().packetsOut).toBe(2);
    hangUp = true;
    clock.advance(20);
    await new Promise((r) => setImmediate(r));
    // Tick 3: built at 57, the call hung up before the instant: the packet went out with the close.
    expect(pulledAt).toEqual([20, 37, 57]);
    expect(s.counters().packetsOut).toBe(3);
    await waitFor(() => far.got.length === 3, 'reply packets');
    expect(far.got.map((p) => p.sequence - far.got[0].sequence)).toEqual([0, 1, 2]);
  });

  it('after a stall, the caught-up ticks still pull once each: send phases run ahead of their outbound phases', async () => {
    const far = await farEnd();
    const { clock, call } = await setup({ remotePort: far.port });
    call.greeting = [1, 2, 3].map((k) => ulawDecode(tonePayload(k)));
    clock.advance(20);
    await new Promise((r) => setImmediate(r));
    // Five ticks at once: their send and inbound phases run back to back, then their outbound
    // phases once the promise jobs have run.
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
    expect(call.log).toEqual([
      'push', 'pull:audio',
      'pull:audio', 'push', 'pull:audio', 'push', 'pull:null', 'push', 'push', 'push',
      'pull:null', 'pull:null',
    ]);
    await waitFor(() => far.got.length === 3, 'reply packets');
    expect(far.got.map((p) => p.sequence - far.got[0].sequence)).toEqual([0, 1, 2]);
  });

  it('a turn that ends between ticks: its reply\'s first packet goes out then, as the next tick\'s; the rest on the grid', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    // The call plays a listening agent: its turn ends on silence at `due`, and the reply's audio
    // arrives ('ready') in the promise jobs that ending starts.
    let due: number | null = 65;
    const pulls: Array<[number, boolean]> = [];
    call.turnEndDueAt = () => due;
    call.pollTurnEnd = () => {
      if (due === null || clock.now() < due) return false;
      due = null;
      void Promise.resolve().then(() => call.ready([1, 2, 3].map((k) => ulawDecode(tonePayload(k)))));
      return true;
    };
    call.hasOutbound = () => call.greeting.length > 0;
    const pull = call.pullOutbound.bind(call);
    call.pullOutbound = () => {
      const f = pull();
      pulls.push([clock.now(), f !== null]);
      return f;
    };
    const step = async (ms: number) => {
      clock.advance(ms);
      await new Promise((r) => setImmediate(r));
    };
    await step(20);
    await step(20); // tick at 40: 65 is past the next tick (60), which will look again
    await step(20); // tick at 60: 65 falls before the tick at 80: a timer
    await step(4);
    expect(session.counters().packetsOut).toBe(0);
    await step(1); // 65: the turn ends, the first packet goes out at once
    expect(session.counters().packetsOut).toBe(1);
    await step(15); // tick at 80: its packet went out already
    expect(session.counters().packetsOut).toBe(1);
    await step(20); // 100, 120: the rest of the reply on the grid
    await step(20);
    await step(20);
    expect(pulls).toEqual([
      [20, false], [40, false], [60, false],
      [65, true],
      [100, true], [120, true], [140, false],
    ]);
    await waitFor(() => far.got.length === 3, 'reply packets');
    expect(far.got.map((p) => p.marker)).toEqual([true, false, false]);
    // its timestamp is the tick at 80's: the stream's clock is not moved
    expect(far.got[0].timestamp - 1000).toBe(3 * 160);
    for (let i = 1; i < 3; i++) expect(far.got[i].timestamp - far.got[i - 1].timestamp).toBe(160);
  });

  it('a reply whose first audio arrives between ticks goes out at once, as the next tick\'s packet; on a tick, the tick sends it', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    call.hasOutbound = () => call.greeting.length > 0;
    const pulls: number[] = [];
    const pull = call.pullOutbound.bind(call);
    call.pullOutbound = () => {
      const f = pull();
      if (f) pulls.push(clock.now());
      return f;
    };
    const step = async (ms: number) => {
      clock.advance(ms);
      await new Promise((r) => setImmediate(r));
    };
    await step(20);
    await step(20);
    await step(7); // 47: a TTS stream delivers the reply's first audio
    call.ready([1, 2].map((k) => ulawDecode(tonePayload(k))));
    // at once, not after the rest of the TTS stream's promise jobs
    expect(session.counters().packetsOut).toBe(1);
    await step(13); // the tick at 60: its packet is out already
    expect(session.counters().packetsOut).toBe(1);
    await step(20); // 80
    await step(20); // 100: the reply is over
    expect(pulls).toEqual([47, 80]);
    await waitFor(() => far.got.length === 2, 'reply packets');
    expect(far.got[0].marker).toBe(true);
    expect(far.got[1].timestamp - far.got[0].timestamp).toBe(160);
    expect(far.got[0].timestamp - 1000).toBe(2 * 160); // the tick at 60's
    // Audio that is ready on a tick (zero-latency providers) is pulled by that tick's outbound phase.
    clock.advance(20); // 120: the tick runs; the 'ready' below comes in its promise jobs
    void Promise.resolve().then(() => call.ready([ulawDecode(tonePayload(3))]));
    await new Promise((r) => setImmediate(r));
    expect(pulls).toEqual([47, 80, 120]);
  });

  it('a call that throws when asked about its turn end between ticks is counted, not fatal; its media goes on', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    call.turnEndDueAt = () => clock.now() + 5;
    call.pollTurnEnd = () => {
      throw new Error('agent bug');
    };
    for (let t = 0; t < 3; t++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r));
    }
    // the timers at 25 and 45 fired and threw; the one at 65 is not due yet
    expect(session.counters().callErrors).toBe(2);
    call.greeting = [ulawDecode(tonePayload(0))];
    clock.advance(20);
    await waitFor(() => far.got.length === 1, 'the next packet');
  });

  it('sends to the configured remote from the first tick, before anything arrives (greeting)', async () => {
    const far = await farEnd();
    const { clock, call } = await setup({ remotePort: far.port });
    call.greeting = [ulawDecode(tonePayload(0)), ulawDecode(tonePayload(1))];
    clock.advance(60);
    await waitFor(() => far.got.length === 2, 'greeting packets');
    expect(far.got.map((p) => [p.sequence, p.timestamp, p.marker])).toEqual([
      [65530, 1000, true],
      [65531, 1160, false],
    ]);
  });

  it('replays the real Asterisk 20 capture: 60 frames reach the call decoded, in order', async () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../../../shared/fixtures/asterisk20-externalmedia-call.json', import.meta.url), 'utf8'),
    ) as { rtp_first_60: { hex: string }[] };
    const { clock, call, session } = await setup();
    const sender = await farEnd();
    const raw = fixture.rtp_first_60.map((p) => Buffer.from(p.hex, 'hex'));
    // Real pacing: 1 packet per tick, the buffer plays them 60 ms later.
    for (let i = 0; i < raw.length; i++) {
      sender.sock.send(raw[i], session.localPort, HOST);
      await waitFor(() => session.counters().packetsIn === i + 1, `packet ${i}`);
      clock.advance(20);
    }
    clock.advance(100);
    const audio = call.heard.filter((h) => h.encoded && h.encoded.some((b) => b !== 0xff));
    expect(session.counters()).toMatchObject({ framesAudio: 60, lost: 0, late: 0, duplicate: 0 });
    const expected = raw.map((b) => Array.from(b.subarray(12)));
    const got = call.heard.map((h) => Array.from(h.encoded!));
    const first = got.findIndex((g) => g.join() === expected[0].join());
    expect(first).toBe(2); // held 60 ms: ticks at 20 and 40 ms are silence
    expect(got.slice(first, first + 60)).toEqual(expected);
    expect(audio.length).toBeGreaterThanOrEqual(50);
  });

  it('RFC 4733 digits reach call.dtmf once each', async () => {
    const { clock, call, session } = await setup();
    const far = await farEnd();
    let seq = 1;
    for (const [digit, ts] of [
      ['1', 8000],
      ['#', 16000],
    ] as const) {
      for (const p of buildTelephoneEvents(digit, 100)) far.sock.send(rtp(seq++, p, 101, ts), session.localPort, HOST);
    }
    await waitFor(() => session.counters().packetsIn === seq - 1, 'dtmf packets');
    clock.advance(20);
    expect(call.digits).toEqual(['1', '#']);
    expect(session.counters().dtmfDigitsIn).toBe(2);
  });

  it('sendDtmf goes out as telephone-event in place of audio', async () => {
    const far = await farEnd();
    const { clock, session } = await setup({ remotePort: far.port });
    session.sendDtmf('9', 40);
    clock.advance(100);
    await waitFor(() => far.got.length === 4, 'dtmf out');
    expect(far.got.every((p) => p.payloadType === 101 && p.timestamp === 1000)).toBe(true);
    expect(session.counters().dtmfPacketsOut).toBe(4);
  });

  it('bad input is counted, never thrown, and the call keeps flowing', async () => {
    const far = await farEnd();
    const { clock, call, session } = await setup({ remotePort: far.port });
    const stranger = await farEnd();
    far.sock.send(rtp(1, tonePayload(0)), session.localPort, HOST); // latches
    await waitFor(() => session.counters().packetsIn === 1, 'latch');
    stranger.sock.send(rtp(2, tonePayload(1)), session.localPort, HOST);
    far.sock.send(Buffer.from([0x80, 0]), session.localPort, HOST);
    far.sock.send(rtp(3, tonePayload(2), 18), session.localPort, HOST);
    far.sock.send(rtp(2, tonePayload(1)), session.localPort, HOST);
    await waitFor(() => session.counters().packetsIn === 5, 'all datagrams');
    call.throwOnPush = true;
    clock.advance(100);
    call.throwOnPush = false;
    clock.advance(100);
    const c = session.counters();
    expect(c.wrongSource).toBe(1);
    expect(c.malformed.RTP_TRUNCATED).toBe(1);
    expect(c.unknownPayload).toBe(1);
    expect(c.callErrors).toBe(5);
    expect(c.framesAudio).toBe(2);
    expect(call.heard.length).toBe(5);
  });

  it('close() stops ticking, releases the port, is idempotent; call end closes it too', async () => {
    const pool = new PortPool(BASE + 10, BASE + 13);
    const a = await setup({ pool });
    expect(pool.inUse).toBe(1);
    expect(a.ticker.size).toBe(3); // its send, inbound and outbound phases
    await a.session.close();
    await a.session.close();
    expect(pool.inUse).toBe(0);
    expect(a.ticker.size).toBe(0);
    expect(a.call.listeners()).toBe(0);
    const heard = a.call.heard.length;
    a.clock.advance(100);
    expect(a.call.heard.length).toBe(heard);

    const b = await setup({ pool });
    expect(pool.inUse).toBe(1);
    b.call.end('caller-hangup');
    await waitFor(() => pool.inUse === 0, 'port released after call end');
    expect(b.session.isClosed).toBe(true);
    expect(b.ticker.size).toBe(0);
  });

  it('bind first, attach the call and the remote later (ExternalMedia order)', async () => {
    const clock = new ManualClock();
    const ticker = new Ticker(clock);
    const pool = new PortPool(BASE + 14, BASE + 19);
    const session = await RtpMediaSession.open({ ticker, pool, bindAddress: HOST, jitterBufferMs: 20, initialSeq: 7 });
    cleanup.push(() => session.close());
    ticker.start();
    cleanup.push(() => ticker.stop());
    clock.advance(100); // no call yet: nothing happens, nothing throws
    expect(ticker.size).toBe(0);
    const far = await farEnd();
    const call = new EchoCall();
    call.greeting = [ulawDecode(tonePayload(0))];
    session.attach(call, { address: HOST, port: far.port });
    expect(() => session.attach(new EchoCall())).toThrow();
    clock.advance(20);
    await waitFor(() => far.got.length === 1, 'first packet to the late remote');
    expect(far.got[0].sequence).toBe(7);
    expect(call.heard).toHaveLength(1);
  });

  it('ticker slots: calls are spread round-robin over the sub-ticks, each heard and answered once a period at its own', async () => {
    const clock = new ManualClock();
    const ticker = new Ticker(clock, { slots: 2 });
    const pool = new PortPool(BASE + 14, BASE + 19);
    const heardAt: number[][] = [[], []];
    const calls = [new EchoCall(), new EchoCall()];
    calls.forEach((call, i) => {
      const push = call.pushInbound.bind(call);
      call.pushInbound = (frame, encoded, timing) => {
        heardAt[i].push(clock.now());
        push(frame, encoded, timing);
      };
    });
    const sessions = await Promise.all(calls.map((call) => RtpMediaSession.open({ call, ticker, pool, bindAddress: HOST, jitterBufferMs: 20 })));
    cleanup.push(async () => {
      for (const sess of sessions) await sess.close();
    });
    ticker.start();
    cleanup.push(() => ticker.stop());
    clock.advance(60);
    // first call at slot 0 (20, 40, 60), second at slot 1 (10, 30, 50): 10 ms apart, 20 ms each
    expect(heardAt[1]).toEqual([10, 30, 50]);
    expect(heardAt[0]).toEqual([20, 40, 60]);
    expect(ticker.size).toBe(6);
  });

  it('two sessions on one ticker: one call failing leaves the other untouched', async () => {
    const clock = new ManualClock();
    const ticker = new Ticker(clock);
    const pool = new PortPool(BASE + 14, BASE + 19);
    const calls = [new EchoCall(), new EchoCall()];
    const sessions = await Promise.all(
      calls.map((call) => RtpMediaSession.open({ call, ticker, pool, bindAddress: HOST, jitterBufferMs: 20 })),
    );
    cleanup.push(async () => {
      ticker.stop();
      await Promise.all(sessions.map((s) => s.close()));
    });
    ticker.start();
    const far = await farEnd();
    calls[0].throwOnPush = true;
    for (let i = 0; i < 5; i++) {
      far.sock.send(Buffer.from('garbage!garbage!'), sessions[0].localPort, HOST);
      far.sock.send(rtp(i, tonePayload(i)), sessions[1].localPort, HOST);
    }
    await waitFor(() => sessions[0].counters().packetsIn === 5 && sessions[1].counters().packetsIn === 5, 'datagrams');
    clock.advance(200);
    expect(sessions[1].counters()).toMatchObject({ framesAudio: 5, callErrors: 0, malformed: { RTP_TRUNCATED: 0, RTP_BAD_VERSION: 0 } });
    expect(calls[1].heard).toHaveLength(10);
    expect(sessions[0].counters().callErrors).toBe(10);
    expect(sessions[0].counters().malformed.RTP_BAD_VERSION).toBe(5);

    // Its between-tick questions throwing too (is a turn end due, is audio ready): counted at that
    // call alone, the other one hears every tick. (First let the ticks above finish their outbound phases.)
    await new Promise((r) => setImmediate(r));
    calls[0].turnEndDueAt = () => {
      throw new Error('agent bug');
    };
    calls[0].hasOutbound = () => {
      throw new Error('agent bug');
    };
    calls[0].ready([]); // asked whether its audio is ready: throws
    for (let i = 0; i < 3; i++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r));
    }
    // 1 ready + 3 pushes + 3 turn-end questions
    expect(sessions[0].counters().callErrors).toBe(17);
    expect(sessions[1].counters().callErrors).toBe(0);
    expect(calls[1].heard).toHaveLength(13);
  });
});
