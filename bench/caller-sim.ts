/**
 * The simulated callers, in their own process (so they do not share the daemon's event loop). Each
 * caller owns a UDP socket and sends real-time G.711 RTP every 20 ms, the callers spread over ten
 * send phases like independent phone legs: silence, then a synthesized utterance, then silence while
 * the agent answers; every other reply it barges in one second into the agent's audio. It measures
 * what a caller hears:
 *   - inter-arrival of the agent's packets within a talk-spurt (deviation from 20 ms),
 *   - turn latency: our last frame the daemon's VAD counts as speech sent -> first reply packet
 *     received (and, for comparison, from our last frame above -40 dBFS),
 *   - barge-in stop: our speech onset sent -> last agent packet of the interrupted spurt received.
 * Run by the orchestrator with fork(); talks to it over IPC (see protocol.ts).
 */
import dgram from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FRAME_SAMPLES } from '../src/media/audio-frame.ts';
import { Ticker } from '../src/media/ticker.ts';
import { writeRtpFixedHeader } from '../src/media/rtp-packet.ts';
import { lastSpeechFrames, loadBenchAudio } from './audio.ts';
import { benchConfig } from './bench-config.ts';
import { sendLastToParent } from './children.ts';
import { SPURT_GAP_MS, type CallerResult, type FromCaller, type ToCaller } from './protocol.ts';
import { Histogram, prng } from './stats.ts';

// More than the Ticker's catch-up burst (10 ticks): a packet buffer is never rewritten before the
// kernel has it, even when a stall makes ticks run back to back.
const RING = 16;
const PKT_BYTES = 12 + FRAME_SAMPLES;
/** Agent quiet this long = it finished its turn. */
const AGENT_DONE_GAP_MS = 400;
const BARGE_AFTER_MS = 1000;
const REPLY_TIMEOUT_MS = 5000;
/** Send phases per 20 ms period (each on its own Ticker, started 20/PHASES ms apart). */
const PHASES = 10;

type Mode = 'wait-agent-done' | 'speaking' | 'await-reply' | 'in-reply' | 'barging';

interface Caller {
  /** Sending (its call was started); a ramp's callers wait for their call to be admitted. */
  active: boolean;
  sock: dgram.Socket;
  port: number;
  ring: Buffer[];
  ringIdx: number;
  seq: number;
  ts: number;
  ssrc: number;
  mode: Mode;
  /** Utterance being sent, frame index. */
  utt: number;
  uttFrame: number;
  speakAt: number;
  turnNo: number;
  lastVoicedSentMs: number;
  lastSpeechSentMs: number;
  onsetSentMs: number;
  awaitSince: number;
  replyStartMs: number;
  // agent packets
  heardAgent: boolean;
  agentLastMs: number;
  agentPrevSeq: number;
  /** The previous agent packet opened a talk-spurt (marker bit). */
  agentPrevMarker: boolean;
  bargeSpurtOpen: boolean;
  bargeLastMs: number;
}

function send(msg: FromCaller): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const audio = loadBenchAudio();
  const lastSpeech = await lastSpeechFrames(audio, benchConfig().media.vad);
  const silence = new Uint8Array(FRAME_SAMPLES).fill(0xff);
  const tickers: Ticker[] = [];
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const callers: Caller[] = [];
  let measuring = false;
  let windowStart = 0;
  let cpuStart = process.cpuUsage();
  let rnd = prng(1);
  const jitterDev = new Histogram(0.01, 200);
  const interval = new Histogram(0.01, 200);
  // The same deviations split: the talk-spurt's first interval (marker packet -> next) and the rest.
  const jitterDevFirst = new Histogram(0.01, 200);
  const jitterDevSteady = new Histogram(0.01, 200);
  const turnLatencyMs: number[] = [];
  const turnLatencyLevelCutMs: number[] = [];
  const bargeInStopMs: number[] = [];
  let bargeInNotStopped = 0;
  let turnTimeouts = 0;
  let sent = 0;
  let sentTotal = 0;
  let received = 0;
  let seqGaps = 0;

  function onAgentPacket(c: Caller, msg: Buffer): void {
    const now = performance.now();
    if (msg.length < 12) return;
    if (measuring) received++;
    const marker = (msg[1] & 0x80) !== 0;
    const seq = (msg[2] << 8) | msg[3];
    const gap = now - c.agentLastMs;
    if (c.heardAgent && !marker && gap < SPURT_GAP_MS) {
      const step = (seq - c.agentPrevSeq) & 0xffff;
      if (step === 1) {
        if (measuring) {
          interval.add(gap);
          jitterDev.add(Math.abs(gap - 20));
          (c.agentPrevMarker ? jitterDevFirst : jitterDevSteady).add(Math.abs(gap - 20));
        }
      } else if (measuring && step > 1 && step < 100) seqGaps += step - 1;
    }
    if (c.mode === 'barging' && c.bargeSpurtOpen) {
      if (gap < SPURT_GAP_MS) c.bargeLastMs = now;
      else c.bargeSpurtOpen = false;
    }
    if (c.mode === 'await-reply' && now > c.lastSpeechSentMs) {
      if (measuring) {
        turnLatencyMs.push(now - c.lastSpeechSentMs);
        turnLatencyLevelCutMs.push(now - c.lastVoicedSentMs);
      }
      c.mode = 'in-reply';
      c.replyStartMs = now;
    }
    c.heardAgent = true;
    c.agentLastMs = now;
    c.agentPrevSeq = seq;
    c.agentPrevMarker = marker;
  }

  function startUtterance(c: Caller, mode: 'speaking' | 'barging'): void {
    c.mode = mode;
    c.utt = c.turnNo % audio.callerFrames.length;
    c.uttFrame = 0;
    c.turnNo++;
    if (mode === 'barging') {
      c.bargeSpurtOpen = true;
      c.bargeLastMs = c.agentLastMs;
      c.onsetSentMs = 0;
    }
  }

  function tick(group: Caller[]): void {
    const now = performance.now();
    for (let i = 0; i < group.length; i++) {
      const c = group[i];
      if (!c.active) continue;
      // -------- decide what to say
      switch (c.mode) {
        case 'wait-agent-done':
          if (c.heardAgent && now - c.agentLastMs > AGENT_DONE_GAP_MS && now >= c.speakAt) startUtterance(c, 'speaking');
          else if (!c.heardAgent && now - c.awaitSince > 15_000) {
            c.awaitSince = now; // the agent never spoke: speak anyway so the call is exercised
            turnTimeouts += measuring ? 1 : 0;
            startUtterance(c, 'speaking');
          }
          break;
        case 'await-reply':
          if (now - c.awaitSince > REPLY_TIMEOUT_MS) {
            if (measuring) turnTimeouts++;
            c.mode = 'wait-agent-done';
            c.speakAt = now + 200 + rnd() * 400;
          }
          break;
        case 'in-reply':
          if (c.turnNo % 2 === 1 && now - c.replyStartMs >= BARGE_AFTER_MS && now - c.agentLastMs < SPURT_GAP_MS) {
            startUtterance(c, 'barging');
          } else if (now - c.agentLastMs > AGENT_DONE_GAP_MS) {
            c.mode = 'wait-agent-done';
            c.speakAt = now + 200 + rnd() * 400;
          }
          break;
        default:
          break;
      }
      // -------- send one frame
      let payload: Uint8Array = silence;
      if (c.mode === 'speaking' || c.mode === 'barging') {
        const frames = audio.callerFrames[c.utt];
        payload = frames[c.uttFrame];
        if (c.uttFrame === audio.callerFirstVoiced[c.utt] && c.mode === 'barging') c.onsetSentMs = now;
        if (c.uttFrame === audio.callerLastVoiced[c.utt]) c.lastVoicedSentMs = now;
        if (c.uttFrame === lastSpeech[c.utt]) c.lastSpeechSentMs = now;
        c.uttFrame++;
        if (c.uttFrame >= frames.length) {
          if (c.mode === 'barging') {
            if (c.bargeSpurtOpen && now - c.agentLastMs < SPURT_GAP_MS) {
              if (measuring) bargeInNotStopped++;
            } else if (measuring && c.onsetSentMs > 0) {
              bargeInStopMs.push(Math.max(0, c.bargeLastMs - c.onsetSentMs));
            }
          }
          c.mode = 'await-reply';
          c.awaitSince = now;
        }
      }
      const buf = c.ring[c.ringIdx];
      c.ringIdx = (c.ringIdx + 1) % RING;
      writeRtpFixedHeader(buf, false, 0, c.seq, c.ts, c.ssrc);
      buf.set(payload, 12);
      c.seq = (c.seq + 1) & 0xffff;
      c.ts = (c.ts + FRAME_SAMPLES) >>> 0;
      c.sock.send(buf);
      sentTotal++;
      if (measuring) sent++;
    }
  }

  process.on('message', (raw: ToCaller) => {
    void (async () => {
      try {
        if (raw.type === 'open') {
          rnd = prng(raw.seed);
          for (const port of raw.daemonPorts) {
            const sock = dgram.createSocket('udp4');
            await new Promise<void>((res, rej) => {
              sock.once('error', rej);
              sock.bind(0, '127.0.0.1', () => {
                // connected: send() goes straight to the kernel, with no per-packet address lookup
                sock.connect(port, '127.0.0.1', () => {
                  sock.off('error', rej);
                  res();
                });
              });
            });
            const c: Caller = {
              active: !raw.waitForActivate,
              sock,
              port,
              ring: Array.from({ length: RING }, () => Buffer.alloc(PKT_BYTES)),
              ringIdx: 0,
              seq: Math.floor(rnd() * 65536),
              ts: Math.floor(rnd() * 2 ** 32),
              ssrc: Math.floor(rnd() * 2 ** 32),
              mode: 'wait-agent-done',
              utt: 0,
              uttFrame: 0,
              // desynchronize the callers: each answers the greeting after its own pause
              speakAt: performance.now() + 500 + rnd() * 3000,
              turnNo: 0,
              lastVoicedSentMs: 0,
              lastSpeechSentMs: 0,
              onsetSentMs: 0,
              awaitSince: performance.now(),
              replyStartMs: 0,
              heardAgent: false,
              agentLastMs: 0,
              agentPrevSeq: 0,
              agentPrevMarker: false,
              bargeSpurtOpen: false,
              bargeLastMs: 0,
            };
            sock.on('message', (m) => onAgentPacket(c, m));
            sock.on('error', () => {});
            callers.push(c);
          }
          // Real phone legs each send on their own 20 ms clock, at phases spread over the period;
          // one burst of every caller's packet at once would be a worst case no PBX produces.
          for (let p = 0; p < PHASES; p++) {
            const group = callers.filter((_, i) => i % PHASES === p);
            const t = new Ticker();
            t.add(() => tick(group));
            tickers.push(t);
            setTimeout(() => t.start(), (p * 20) / PHASES);
          }
          send({ type: 'ready' });
        } else if (raw.type === 'activate') {
          const now = performance.now();
          for (const i of raw.indices) {
            const c = callers[i];
            if (!c || c.active) continue;
            c.active = true;
            c.awaitSince = now;
            c.speakAt = now + 500 + rnd() * 3000;
          }
        } else if (raw.type === 'measure') {
          measuring = true;
          windowStart = performance.now();
          cpuStart = process.cpuUsage();
          loop.reset();
        } else if (raw.type === 'stop') {
          const windowMs = performance.now() - windowStart;
          const cpu = process.cpuUsage(cpuStart);
          for (const t of tickers) t.stop();
          measuring = false;
          const result: CallerResult = {
            callers: callers.filter((c) => c.active).length,
            windowMs,
            sent,
            sentTotal,
            received,
            jitterDev: jitterDev.toSparse(),
            interval: interval.toSparse(),
            jitterDevFirst: jitterDevFirst.toSparse(),
            jitterDevSteady: jitterDevSteady.toSparse(),
            turnLatencyMs,
            turnLatencyLevelCutMs,
            bargeInStopMs,
            bargeInNotStopped,
            turnTimeouts,
            seqGaps,
            eventLoopP99Ms: loop.percentile(99) / 1e6,
            cpuUserMs: cpu.user / 1000,
            cpuSystemMs: cpu.system / 1000,
          };
          await Promise.all(callers.map((c) => new Promise<void>((res) => c.sock.close(() => res()))));
          sendLastToParent({ type: 'result', result } satisfies FromCaller);
        }
      } catch (err) {
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
}

void main();
