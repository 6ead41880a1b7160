/**
 * Control-plane and audio-stream fuzzing against live calls: seeded random and mutated
 * (a) ARI events on the fake Asterisk's /ari/events WebSocket, mutated from the real Asterisk 20
 *     capture (wrong types, missing fields, unknown types, huge strings, non-JSON, binary frames,
 *     unknown channels, a live call's channel with garbage payloads);
 * (b) ESL traffic on the fake FreeSWITCH's event socket, mutated from the real FreeSWITCH 1.10
 *     capture (text/event-json events with wrong/missing headers, plus malformed framing: bad
 *     Content-Length, missing/unknown Content-Type, truncated bodies, random bytes, bad %-encoding);
 * (c) mod_audio_stream WebSocket frames to the targeted call (odd, zero, oversized binary sizes,
 *     junk text, repeated metadata, pings, raw protocol violations).
 * Each phase runs its adapter with live calls through the fakes: a few targets take the garbage,
 * the controls talk both ways throughout. Afterwards: no uncaught exception, every control still up
 * and still exchanging audio, then ended cleanly, nothing leaked, and the counters show the drops.
 * Same seed, same inputs (the order they interleave with live traffic depends on timing).
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { freeswitchSchema, type FreeswitchConfigInput } from '../src/config/freeswitch.ts';
import { Ticker } from '../src/media/ticker.ts';
import { startFreeswitchAdapter, type FreeswitchAdapter } from '../src/pbx/freeswitch/index.ts';
import { NO_LEAKS, leakReport, rig, ulawTone } from '../test/asterisk/helpers.ts';
import { ToneSessionFactory, type ToneSession } from '../test/helpers/fake-ari-session.ts';
import { FakeFreeswitch, type FakeChannel } from '../test/helpers/fake-freeswitch.ts';
import { energy, tone, ToneEchoFactory, type ToneEchoAgent } from '../test/helpers/fake-freeswitch-agent.ts';
import { prng } from './stats.ts';

const FIXTURES = join(import.meta.dirname, '../../shared/fixtures');

type Rnd = () => number;

export interface FuzzInput {
  kind: string;
  data: string | Buffer;
  binary: boolean;
}

const int = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);
const pick = <T>(rnd: Rnd, a: readonly T[]): T => a[int(rnd, a.length)]!;

function randomBytes(rnd: Rnd, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(rnd, 256);
  return b;
}

const NASTY = ['', ' ', '\u0000', '\r\n\r\n', '%', '%E0%A4%A', '__proto__', 'constructor', '../../etc/passwd', '💥'.repeat(20), 'null', '{', '"', '\\', 'aibridge-em-x'];

function junkString(rnd: Rnd, max = 64): string {
  if (rnd() < 0.3) return pick(rnd, NASTY);
  let s = '';
  const n = int(rnd, max);
  for (let i = 0; i < n; i++) s += String.fromCharCode(rnd() < 0.9 ? 32 + int(rnd, 95) : int(rnd, 0x2fff));
  return s;
}

/** A value of a random JSON type (the "wrong type" for whatever field it lands in). */
function junkValue(rnd: Rnd, depth = 0): unknown {
  switch (int(rnd, depth > 1 ? 6 : 8)) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return pick(rnd, [0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, 65536]);
    case 3: return int(rnd, 100000);
    case 4:
    case 5: return junkString(rnd);
    case 6: return Array.from({ length: int(rnd, 4) }, () => junkValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(rnd, 4); i > 0; i--) o[junkString(rnd, 12)] = junkValue(rnd, depth + 1);
      return o;
    }
  }
}

/** Every [parent, key] in a JSON tree down to depth 3. */
function slots(v: unknown, out: Array<[Record<string, unknown>, string]> = [], depth = 0): Array<[Record<string, unknown>, string]> {
  if (v === null || typeof v !== 'object' || depth > 3) return out;
  for (const k of Object.keys(v)) {
    out.push([v as Record<string, unknown>, k]);
    slots((v as Record<string, unknown>)[k], out, depth + 1);
  }
  return out;
}

function mutateTree(rnd: Rnd, obj: Record<string, unknown>, how: 'types' | 'delete', n: number): void {
  const all = slots(obj);
  for (let i = 0; i < n && all.length; i++) {
    const [parent, key] = pick(rnd, all);
    if (how === 'delete') delete parent[key];
    else parent[key] = junkValue(rnd);
  }
}

function flipChars(rnd: Rnd, s: string): string {
  const a = s.split('');
  for (let i = 1 + int(rnd, 6); i > 0; i--) a[int(rnd, a.length)] = String.fromCharCode(int(rnd, 128));
  return a.join('');
}

function weighted<K extends string>(rnd: Rnd, table: ReadonlyArray<readonly [K, number]>): K {
  let total = 0;
  for (const [, w] of table) total += w;
  let r = rnd() * total;
  for (const [k, w] of table) if ((r -= w) < 0) return k;
  return table[table.length - 1]![0];
}

// ------------------------------------------------------------------------------------------ ARI

const ARI_KINDS = [
  ['unknown-channel', 14], ['wrong-types', 18], ['missing-fields', 14], ['unknown-type', 8], ['huge-string', 0.15],
  ['non-json', 8], ['binary', 6], ['not-object', 6], ['bit-flip', 10], ['target-garbage', 14], ['new-channel', 0.3],
] as const;
export type AriKind = (typeof ARI_KINDS)[number][0];
export const ARI_KIND_NAMES = ARI_KINDS.map(([k]) => k);

/** The channel ids an ARI event may name: the current target's, or ids nobody owns. */
export interface AriTargetIds {
  caller: string;
  em: string;
}

export class AriEventFuzzer {
  private readonly templates: string[];
  private n = 0;

  constructor(private readonly rnd: Rnd) {
    const fx = JSON.parse(readFileSync(join(FIXTURES, 'asterisk20-externalmedia-call.json'), 'utf8')) as { log: Array<{ kind: string; event?: unknown }> };
    // Fixture ids become placeholders: a replayed event must never name one of the rig's own calls by accident.
    this.templates = fx.log
      .filter((e) => e.kind === 'event')
      .map((e) => JSON.stringify(e.event).replaceAll('em-1795542118.10', '@EM@').replaceAll('1795542118.10', '@CALLER@').replaceAll('663e4600-33c6-4f70-b9f6-cdd5e501ba72', '@BRIDGE@'));
  }

  private fresh(): string {
    return `fuzz-${(this.rnd() * 2 ** 32) >>> 0}.${++this.n}`;
  }

  private event(ids: AriTargetIds | null): Record<string, unknown> {
    const useTarget = ids !== null && this.rnd() < 0.3;
    const t = pick(this.rnd, this.templates)
      .replaceAll('@EM@', useTarget ? ids.em : this.fresh())
      .replaceAll('@CALLER@', useTarget ? ids.caller : this.fresh())
      .replaceAll('@BRIDGE@', this.fresh());
    return JSON.parse(t) as Record<string, unknown>;
  }

  next(target: AriTargetIds | null): FuzzInput {
    const rnd = this.rnd;
    const kind = weighted(rnd, ARI_KINDS);
    const text = (o: unknown): FuzzInput => ({ kind, data: JSON.stringify(o), binary: false });
    switch (kind) {
      case 'unknown-channel': {
        const e = this.event(null);
        return text(e);
      }
      case 'wrong-types': {
        const e = this.event(target);
        mutateTree(rnd, e, 'types', 1 + int(rnd, 3));
        return text(e);
      }
      case 'missing-fields': {
        const e = this.event(target);
        mutateTree(rnd, e, 'delete', 1 + int(rnd, 3));
        return text(e);
      }
      case 'unknown-type': {
        const e = this.event(target);
        e.type = rnd() < 0.5 ? junkString(rnd, 40) : junkValue(rnd);
        return text(e);
      }
      case 'huge-string': {
        const e = this.event(target);
        const big = 'x'.repeat(rnd() < 0.9 ? 10_000 + int(rnd, 60_000) : 1_000_000);
        const all = slots(e);
        const [parent, key] = pick(rnd, all);
        parent[key] = big;
        return text(e);
      }
      case 'non-json': {
        const t = this.event(target);
        const s = JSON.stringify(t);
        return { kind, data: rnd() < 0.5 ? s.slice(0, int(rnd, s.length)) : junkString(rnd, 200), binary: false };
      }
      case 'binary':
        return { kind, data: rnd() < 0.5 ? randomBytes(rnd, int(rnd, 400)) : Buffer.from(JSON.stringify(this.event(target))), binary: true };
      case 'not-object':
        return { kind, data: JSON.stringify(pick(rnd, [null, 5, 'StasisStart', [], [{ type: 'StasisStart' }], true, -0.5])), binary: false };
      case 'bit-flip':
        return { kind, data: flipChars(rnd, JSON.stringify(this.event(target))), binary: false };
      case 'target-garbage': {
        // A known event type naming the live target's channel, with the rest of the payload garbage.
        const e = this.event(target ? { caller: target.caller, em: target.em } : null);
        const ch = e.channel ?? e.peer;
        if (target && ch && typeof ch === 'object') {
          mutateTree(rnd, ch as Record<string, unknown>, 'types', int(rnd, 3));
          (ch as Record<string, unknown>).id = rnd() < 0.8 ? target.caller : target.em;
        }
        for (const k of Object.keys(e)) if (k !== 'type' && k !== 'channel' && k !== 'peer' && rnd() < 0.5) e[k] = junkValue(rnd);
        if (rnd() < 0.3) e.digit = pick(rnd, ['1', '#', 'A', 'x', '', '12', 5, null]);
        return text(e);
      }
      case 'new-channel': {
        // A StasisStart for a channel Asterisk does not have: set-up must fail inside that one call.
        const e = this.event(null);
        e.type = 'StasisStart';
        e.channel = { id: this.fresh(), name: junkValue(rnd), state: pick(rnd, ['Up', 'Ring', 5, null]), caller: junkValue(rnd) };
        e.args = rnd() < 0.5 ? junkValue(rnd) : ['lead_id=' + junkString(rnd, 10), junkString(rnd, 30)];
        return text(e);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ ESL

/** Well-framed events (the bulk) and framing errors (each may cost a reconnect, so rarer). */
const ESL_EVENT_KINDS = [
  ['unknown-uuid', 20], ['wrong-types', 20], ['missing-headers', 15], ['unknown-event', 10], ['target-garbage', 20],
  ['huge-header', 0.3], ['body-not-object', 4], ['marked-new-call', 0.2],
] as const;
const ESL_FRAMING_KINDS = [
  ['bad-content-length', 3], ['truncated-body', 2], ['missing-content-type', 2], ['unknown-content-type', 2], ['random-bytes', 3],
  ['bad-percent-encoding', 2], ['non-json-body', 2], ['null-body', 1], ['plain-without-body', 1], ['xml-garbage', 1], ['spurious-auth-request', 1],
] as const;
export const ESL_KIND_NAMES = [...ESL_EVENT_KINDS, ...ESL_FRAMING_KINDS].map(([k]) => k);
export type EslKind = (typeof ESL_KIND_NAMES)[number];

/** Index just past the JSON object starting at `from` (strings and escapes respected), or -1. */
function jsonObjectEnd(s: string, from: number): number {
  let depth = 0;
  let inStr = false;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

export class EslEventFuzzer {
  private readonly templates: Array<Record<string, string>>;

  constructor(private readonly rnd: Rnd) {
    const fx = JSON.parse(readFileSync(join(FIXTURES, 'freeswitch1.10-esl-audio-stream-call.json'), 'utf8')) as { esl: Array<{ dir: string; text: string }> };
    // Captured reads split and join frames anywhere (and the capture's Content-Lengths are not all
    // byte-exact): rejoin the stream and take each event-json body up to its closing brace.
    this.templates = [];
    const text = fx.esl.filter((e) => e.dir === 'in').map((e) => e.text).join('');
    const marker = 'Content-Type: text/event-json\n\n';
    for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) {
      const end = jsonObjectEnd(text, at + marker.length);
      if (end > 0) this.templates.push(JSON.parse(text.slice(at + marker.length, end)) as Record<string, string>);
    }
  }

  private uuid(): string {
    const h = randomBytes(this.rnd, 16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  private event(uuid: string): Record<string, unknown> {
    const e: Record<string, unknown> = { ...pick(this.rnd, this.templates) };
    for (const k of ['Unique-ID', 'Channel-Call-UUID', 'Caller-Unique-ID', 'variable_uuid', 'variable_call_uuid']) if (k in e) e[k] = uuid;
    return e;
  }

  private frame(body: string, contentType = 'text/event-json'): Buffer {
    return Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: ${contentType}\n\n${body}`);
  }

  /** `framing`: whether a framing error may be produced now (the runner spaces them out). */
  next(target: string | null, framing: boolean): FuzzInput & { framing: boolean } {
    const rnd = this.rnd;
    if (framing) {
      const kind = weighted(rnd, ESL_FRAMING_KINDS);
      return { kind, data: this.framingError(kind, target), binary: true, framing: true };
    }
    const kind = weighted(rnd, ESL_EVENT_KINDS);
    const e = this.event(target && kind !== 'unknown-uuid' && kind !== 'marked-new-call' && rnd() < 0.4 ? target : this.uuid());
    switch (kind) {
      case 'unknown-uuid':
        break;
      case 'wrong-types':
        for (let i = 1 + int(rnd, 4); i > 0; i--) e[pick(rnd, Object.keys(e))] = junkValue(rnd);
        break;
      case 'missing-headers':
        for (const k of Object.keys(e)) if (rnd() < 0.3 || k === pick(rnd, ['Event-Name', 'Unique-ID', 'Event-Subclass', '_body'])) delete e[k];
        break;
      case 'unknown-event':
        e['Event-Name'] = rnd() < 0.5 ? junkString(rnd, 30) : pick(rnd, ['CUSTOM', 'HEARTBEAT', 'CHANNEL_CREATE', 'BACKGROUND_JOB']);
        if (rnd() < 0.5) e['Event-Subclass'] = rnd() < 0.5 ? junkString(rnd, 30) : 'mod_audio_stream::' + junkString(rnd, 10);
        break;
      case 'target-garbage': {
        if (target) e['Unique-ID'] = target;
        e['Event-Name'] = pick(rnd, ['DTMF', 'PLAYBACK_STOP', 'PLAYBACK_START', 'CUSTOM', 'CHANNEL_ANSWER', 'CHANNEL_PARK', 'CHANNEL_HANGUP']);
        if (e['Event-Name'] === 'CUSTOM') e['Event-Subclass'] = pick(rnd, ['mod_audio_stream::play', 'mod_audio_stream::json', 'mod_audio_stream::error', 'mod_audio_stream::disconnect']);
        e['DTMF-Digit'] = rnd() < 0.5 ? pick(rnd, ['1', '#', 'D', 'x', '', '99']) : junkValue(rnd);
        e._body = rnd() < 0.5 ? JSON.stringify({ file: rnd() < 0.5 ? junkValue(rnd) : '/tmp/' + junkString(rnd, 20) }) : junkString(rnd, 100);
        break;
      }
      case 'huge-header':
        e[pick(rnd, ['Unique-ID', 'Event-Name', 'variable_ai_field_note', 'DTMF-Digit', '_body'])] = 'y'.repeat(20_000 + int(rnd, 200_000));
        break;
      case 'body-not-object':
        return { kind, data: this.frame(JSON.stringify(pick(rnd, [5, 'CHANNEL_PARK', [], [1, 2], true, { 'Event-Name': ['DTMF'] }]))), binary: true, framing: false };
      case 'marked-new-call':
        // One of ours by the marker, for a channel FreeSWITCH does not have: that call's start must fail alone.
        e['Event-Name'] = pick(rnd, ['CHANNEL_PARK', 'CHANNEL_ANSWER']);
        e.variable_ai_bridge = 'true';
        break;
    }
    return { kind, data: this.frame(JSON.stringify(e)), binary: true, framing: false };
  }

  private framingError(kind: EslKind, target: string | null): Buffer {
    const rnd = this.rnd;
    const body = JSON.stringify(this.event(target && rnd() < 0.3 ? target : this.uuid()));
    const len = Buffer.byteLength(body);
    switch (kind) {
      case 'bad-content-length': {
        const claim = pick(rnd, [len + 1 + int(rnd, 100), Math.max(1, len - 1 - int(rnd, 100)), -5, 'abc', 1e9, 0]);
        return Buffer.from(`Content-Length: ${claim}\nContent-Type: text/event-json\n\n${body}`);
      }
      case 'truncated-body':
        return this.frame(body).subarray(0, 40 + int(rnd, len));
      case 'missing-content-type':
        return Buffer.from(`Content-Length: ${len}\n\n${body}`);
      case 'unknown-content-type':
        return this.frame(body, pick(rnd, ['text/whatever', '', 'application/json', junkString(rnd, 20).replace(/\n/g, '')]));
      case 'random-bytes':
        return randomBytes(rnd, 1 + int(rnd, 600));
      case 'bad-percent-encoding':
        return Buffer.from(`Content-Type: command/reply\nReply-Text: ${pick(rnd, ['%E0%A4%A', '%', '%zz', '100%'])}\n\n`);
      case 'non-json-body':
        return this.frame(rnd() < 0.5 ? body.slice(0, int(rnd, len)) : junkString(rnd, 200));
      case 'null-body':
        return this.frame('null');
      case 'plain-without-body':
        return Buffer.from('Content-Type: text/event-plain\nEvent-Name: DTMF\n\n');
      case 'xml-garbage':
        return this.frame(pick(rnd, ['<event><headers>', '<<>>', 'not xml', '<event/>']), 'text/event-xml');
      case 'spurious-auth-request':
      default:
        return Buffer.from('Content-Type: auth/request\n\n');
    }
  }
}

// -------------------------------------------------------------------------- mod_audio_stream WS

/** Frames that end the targeted call (the stream is unusable) are the rare ones: each costs a new target. */
const WS_KINDS = [
  ['audio-random', 40], ['text-junk-json', 20], ['text-random', 12], ['metadata-again', 8], ['ping', 6], ['pong', 6], ['audio-multi', 6],
  ['odd-size', 0.25], ['zero', 0.1], ['misaligned', 0.15], ['huge', 0.1], ['protocol-violation', 0.1],
] as const;
export const WS_KIND_NAMES = WS_KINDS.map(([k]) => k);
export type WsKind = (typeof WS_KINDS)[number][0];
/** Kinds after which the target's stream is expected to be dropped and the call ended. */
export const WS_FATAL = new Set<string>(['odd-size', 'zero', 'misaligned', 'huge', 'protocol-violation']);

export class StreamFrameFuzzer {
  constructor(private readonly rnd: Rnd, private readonly maxFrameBytes: number) {}

  next(): FuzzInput {
    const rnd = this.rnd;
    const kind = weighted(rnd, WS_KINDS);
    switch (kind) {
      case 'audio-random':
        return { kind, data: randomBytes(rnd, 320), binary: true };
      case 'audio-multi':
        return { kind, data: randomBytes(rnd, 320 * (2 + int(rnd, 10))), binary: true };
      case 'text-junk-json': {
        const o = junkValue(rnd);
        return { kind, data: rnd() < 0.7 ? JSON.stringify({ type: pick(rnd, ['streamAudio', 'killAudio', 'transcription', junkString(rnd, 10)]), data: o }) : JSON.stringify(o) ?? 'undefined', binary: false };
      }
      case 'text-random':
        return { kind, data: junkString(rnd, 300), binary: false };
      case 'metadata-again':
        return { kind, data: JSON.stringify({ uuid: junkString(rnd, 40), caller: junkValue(rnd), lead: junkValue(rnd), campaign: null }), binary: false };
      case 'ping':
      case 'pong':
        return { kind, data: randomBytes(rnd, int(rnd, 125)), binary: true };
      case 'odd-size':
        return { kind, data: randomBytes(rnd, 2 * int(rnd, 300) + 1), binary: true };
      case 'zero':
        return { kind, data: Buffer.alloc(0), binary: true };
      case 'misaligned':
        return { kind, data: randomBytes(rnd, 320 * (1 + int(rnd, 4)) + 2 * (1 + int(rnd, 100))), binary: true };
      case 'huge':
        return { kind, data: randomBytes(rnd, Math.ceil((this.maxFrameBytes + 1) / 320) * 320 + 320 * int(rnd, rnd() < 0.9 ? 20 : 3000)), binary: true };
      case 'protocol-violation':
      default:
        // Raw bytes on the TCP socket: an unmasked frame, reserved bits, or a bogus opcode.
        return { kind: 'protocol-violation', data: Buffer.from([pick(rnd, [0x82, 0xf2, 0x8b, 0x03]), int(rnd, 126), ...randomBytes(rnd, int(rnd, 40))]), binary: true };
    }
  }
}

// ----------------------------------------------------------------------------------------- runner

export interface EventsFuzzOptions {
  /** Total inputs over the three phases (40 % ARI, 40 % ESL, 20 % WebSocket). */
  count: number;
  seed: number;
  /** Wall-time bound for the fuzzing itself, split like the count (set-up and checks come on top). */
  maxSeconds: number;
  /** Untargeted live calls per phase. */
  controls?: number;
  log?: (line: string) => void;
}

export interface PhaseReport {
  phase: 'ari' | 'esl' | 'ws';
  seed: number;
  sent: number;
  byKind: Record<string, number>;
  seconds: number;
  controls: number;
  /** Target calls used (a target the garbage ended is replaced). */
  targets: number;
  targetsEnded: number;
  /** The adapter's own counters at the end of the phase. */
  counters: Record<string, number>;
  /** Least caller frames with audio an untargeted call's agent received / least agent frames its caller got, during the fuzz. */
  controlAudioInMin: number;
  controlAudioOutMin: number;
  /** Non-zero entries = something left behind after every call ended. */
  leaks: Record<string, number>;
  failures: string[];
}

export interface EventsFuzzReport {
  ok: boolean;
  seed: number;
  count: number;
  sent: number;
  seconds: number;
  uncaught: number;
  /** Live handles (sockets, servers, timers) above the pre-run baseline after everything closed. */
  handlesLeft: Record<string, number>;
  phases: PhaseReport[];
  failures: string[];
}

const SECRET = 'fuzz-secret-0123456789abcdef';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const yieldIo = (): Promise<void> => new Promise((r) => setImmediate(r));
const BATCH = 64;

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(5);
  }
  return true;
}

function numeric(o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'number') out[`${k}.${k2}`] = v2;
  }
  return out;
}

function nonZero(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== 0));
}

/** The kinds of handle the rigs create (pipes and the like belong to the test runner). */
const OURS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'UDPWrap', 'UDPSocketWrap', 'Timeout']);

function handles(): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of process.getActiveResourcesInfo()) if (OURS.has(t)) c[t] = (c[t] ?? 0) + 1;
  return c;
}

/** After the storm, every untargeted call must (still) hear and be heard: bounded wait for 25 frames each way. */
async function audioFlowed(inDelta: () => number, outDelta: () => number): Promise<void> {
  await until(() => inDelta() >= 25 && outDelta() >= 25, 6000);
}

/** A bounded wait for a socket's send buffer to drain (everything runs in this process). */
async function backpressure(buffered: () => number): Promise<void> {
  for (let i = 0; i < 2000 && buffered() > 1 << 20; i++) await sleep(1);
}

// ---- (a) ARI

async function ariPhase(count: number, seconds: number, seed: number, nControls: number, log: (l: string) => void): Promise<PhaseReport> {
  const fz = new AriEventFuzzer(prng(seed ^ 0x5bd1e995));
  const factory = new ToneSessionFactory({ greetingFrames: 1e9 }); // the agent talks all the time
  const r = await rig({ factory, realMedia: true });
  const failures: string[] = [];
  const byKind: Record<string, number> = Object.fromEntries(ARI_KIND_NAMES.map((k) => [k, 0]));
  const callerFrames = (seconds + 30) * 50;
  const open = async (): Promise<{ id: string; em: string; session: ToneSession }> => {
    // Fuzzed StasisStarts for channels Asterisk does not have occupy call slots while their set-up
    // fails: a real call may find the adapter at maxCalls and be handed back. Place another. On a
    // loaded box (another job on the same cores) that can happen several times in a row: be patient,
    // within bounds (10 attempts of 4 s).
    let ch = r.fake.startCall({ callerName: 'fuzz', args: ['campaign=FUZZ'] });
    for (let attempt = 1; !(await until(() => factory.byChannel(ch.id)?.started === true && r.fake.rtpFor(ch.id) !== undefined, 4000)); attempt++) {
      r.fake.hangup(ch.id);
      if (attempt >= 10) throw new Error(`ARI call ${ch.id} did not come up in 10 attempts`);
      ch = r.fake.startCall({ callerName: 'fuzz', args: ['campaign=FUZZ'] });
    }
    const rtp = r.fake.rtpFor(ch.id)!;
    void rtp.play(ulawTone(callerFrames));
    const bridge = r.fake.bridges.get(r.fake.channels.get(ch.id)!.bridgeId!)!;
    const em = bridge.channels.find((c) => c !== ch.id)!;
    return { id: ch.id, em, session: factory.byChannel(ch.id)! };
  };
  // The fake keeps its event sockets private; the fuzz writes on them as Asterisk would.
  const clients = (r.fake as unknown as { clients: Set<WebSocket> }).clients;
  let sent = 0;
  let targets = 0;
  let targetsEnded = 0;
  const t0 = performance.now();
  try {
    await r.adapter.start();
    const controls: Array<{ id: string; em: string; session: ToneSession }> = [];
    for (let i = 0; i < nControls; i++) controls.push(await open());
    let target = await open();
    targets++;
    let ids: AriTargetIds = { caller: target.id, em: target.em };
    let replacing = false;
    await sleep(500);
    const inBefore = controls.map((c) => c.session.inbound.length);
    const outBefore = controls.map((c) => r.fake.rtpFor(c.id)!.received.length);
    const deadline = performance.now() + seconds * 1000;
    let nextLog = 100_000;
    while (sent < count && performance.now() < deadline) {
      const ws = [...clients][0];
      if (!ws || ws.readyState !== ws.OPEN) {
        await sleep(5); // the adapter is reconnecting its event stream
        continue;
      }
      if (target.session.ended && !replacing) {
        // The garbage ended the target (a hang-up-like event named it): take a new one, without pausing the fuzz.
        targetsEnded++;
        replacing = true;
        void open().then(
          (t) => {
            target = t;
            ids = { caller: t.id, em: t.em };
            targets++;
            replacing = false;
          },
          (err: unknown) => failures.push(`could not open a new ARI target: ${String(err)}`),
        );
      }
      for (let i = 0; i < BATCH && sent < count; i++, sent++) {
        const input = fz.next(ids);
        byKind[input.kind]!++;
        ws.send(input.data, { binary: input.binary });
      }
      await backpressure(() => ws.bufferedAmount);
      await yieldIo();
      if (sent >= nextLog) {
        log(`  ari: ${sent} sent, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        nextLog += 100_000;
      }
    }
    const fuzzSeconds = (performance.now() - t0) / 1000;
    const inMinF = (): number => Math.min(...controls.map((c, i) => c.session.inbound.length - inBefore[i]!));
    const outMinF = (): number => Math.min(...controls.map((c, i) => (r.fake.rtpFor(c.id)?.received.length ?? 0) - outBefore[i]!));
    await audioFlowed(inMinF, outMinF);
    const inMin = inMinF();
    const outMin = outMinF();
    for (const c of controls) if (c.session.ended) failures.push(`untargeted ARI call ${c.id} ended during the fuzz (${c.session.ended.reason})`);
    // End every call the way a caller does and check nothing of ours is left anywhere.
    await until(() => !replacing, 8000);
    // Every caller channel Asterisk still has hangs up: controls, the target, and earlier targets
    // whose end the fuzz announced falsely (the fake still holds them; a later StasisStart naming
    // one of them legitimately started a new call on it).
    for (const c of [...r.fake.channels.values()]) if (!c.name.startsWith('UnicastRTP/')) r.fake.hangup(c.id);
    await until(() => controls.every((c) => c.session.ended) && r.adapter.snapshot().activeCalls === 0, 10_000);
    for (const c of controls) if (c.session.ended?.reason !== 'caller-hangup') failures.push(`untargeted ARI call ${c.id} ended as ${c.session.ended?.reason ?? 'still running'}`);
    // A false ChannelDestroyed for a target's ExternalMedia channel makes the adapter forget a
    // channel Asterisk still has: its orphan sweep (run on every start and event-stream reconnect) removes those.
    await r.adapter.sweepOrphans();
    await until(() => leakReport(r).portsInUse === 0 && leakReport(r).bridges === 0 && leakReport(r).unicastChannels === 0, 5000);
    const leaks = nonZero(Object.fromEntries(Object.entries(leakReport(r)).map(([k, v]) => [k, v - (NO_LEAKS as Record<string, number>)[k]!])));
    const counters = numeric(r.adapter.snapshot());
    if ((counters['eventStream.malformed'] ?? 0) === 0) failures.push('ARI: no malformed event counted');
    if ((counters.eventsUnknown ?? 0) === 0) failures.push('ARI: no unknown event type counted');
    if (r.adapter.state !== 'connected') failures.push(`ARI adapter state ${r.adapter.state} after the fuzz`);
    return { phase: 'ari', seed, sent, byKind, seconds: fuzzSeconds, controls: nControls, targets, targetsEnded, counters, controlAudioInMin: inMin, controlAudioOutMin: outMin, leaks, failures };
  } finally {
    await r.close();
  }
}

// ---- FreeSWITCH rig shared by (b) and (c)

interface FsRig {
  fs: FakeFreeswitch;
  adapter: FreeswitchAdapter;
  factory: ToneEchoFactory;
  ticker: Ticker;
  open(): Promise<{ ch: FakeChannel; agent: ToneEchoAgent }>;
  close(): Promise<void>;
}

async function fsRig(callerSeconds: number): Promise<FsRig> {
  const fs = await FakeFreeswitch.start();
  const ticker = new Ticker();
  ticker.start();
  const factory = new ToneEchoFactory(10);
  const cfg = freeswitchSchema.parse({
    host: '127.0.0.1',
    port: fs.port,
    password: fs.password,
    playback: 'stream-audio',
    apiTimeoutMs: 1000,
    reconnect: { initialMs: 10, maxMs: 200 },
    ws: { port: 0, secret: SECRET },
    maxCalls: 500,
  } as FreeswitchConfigInput)!;
  const adapter = await startFreeswitchAdapter({ freeswitch: cfg, transfers: {} }, { callFactory: factory, ticker });
  fs.startRealtime();
  const callerAudio = tone(callerSeconds * 50, 300, 8000);
  return {
    fs,
    adapter,
    factory,
    ticker,
    async open() {
      // A call whose CHANNEL_PARK went out while a framing error had the ESL connection down is
      // never seen (FreeSWITCH does not replay events): hang it up and place another.
      for (let attempt = 0; attempt < 5; attempt++) {
        await until(() => adapter.state === 'ready', 5000);
        const ch = fs.placeCall();
        const ok = await until(() => factory.get(ch.uuid)?.started === true && ch.stream?.state === 'open', 3000);
        if (ok) {
          ch.say(callerAudio);
          return { ch, agent: factory.get(ch.uuid)! };
        }
        ch.hangup();
      }
      throw new Error('no FreeSWITCH call came up in 5 attempts');
    },
    async close() {
      await adapter.close();
      ticker.stop();
      await fs.close();
    },
  };
}

/** Frames with audio in them (the echo agent's inbound also holds the playout buffer's silence). */
const loud = (frames: readonly Int16Array[], from: number): number => {
  let n = 0;
  for (let i = from; i < frames.length; i++) if (energy(frames[i]!) > 500) n++;
  return n;
};

async function endFsCalls(h: FsRig, controls: Array<{ ch: FakeChannel; agent: ToneEchoAgent }>, others: FakeChannel[], failures: string[], name: string): Promise<Record<string, number>> {
  for (const c of [...controls.map((x) => x.ch), ...others]) c.hangup();
  await until(() => h.adapter.calls().size === 0, 10_000);
  for (const c of controls) if (c.agent.endReason !== 'caller-hangup') failures.push(`untargeted ${name} call ${c.ch.uuid} ended as ${c.agent.endReason ?? 'still running'}`);
  await until(() => h.ticker.size === 0, 3000);
  const streams = [...h.fs.channels.values()].filter((c) => c.stream?.ws && c.stream.ws.readyState === c.stream.ws.OPEN).length;
  return nonZero({ activeCalls: h.adapter.calls().size, counterActiveCalls: h.adapter.counters().activeCalls, tickerSubscribers: h.ticker.size, openStreams: streams });
}

// ---- (b) ESL

async function eslPhase(count: number, seconds: number, seed: number, nControls: number, log: (l: string) => void): Promise<PhaseReport> {
  const rnd = prng(seed);
  const fz = new EslEventFuzzer(prng(seed ^ 0x5bd1e995));
  const h = await fsRig(seconds + 30);
  const failures: string[] = [];
  const byKind: Record<string, number> = Object.fromEntries(ESL_KIND_NAMES.map((k) => [k, 0]));
  // The fake keeps its ESL connections private; the fuzz writes on them as FreeSWITCH would.
  const conns = (h.fs as unknown as { conns: Set<{ socket: net.Socket; authed: boolean }> }).conns;
  let sent = 0;
  let framingSent = 0;
  let targets = 0;
  let targetsEnded = 0;
  const t0 = performance.now();
  try {
    const controls: Array<{ ch: FakeChannel; agent: ToneEchoAgent }> = [];
    for (let i = 0; i < nControls; i++) controls.push(await h.open());
    let target = await h.open();
    targets++;
    let replacing = false;
    await sleep(500);
    const inBefore = controls.map((c) => c.agent.inbound.length);
    const outBefore = controls.map((c) => c.ch.heard.length);
    const deadline = performance.now() + seconds * 1000;
    let nextLog = 100_000;
    // Framing errors may force a reconnect: a few per second at most, so the calls' play events get through in between.
    let nextFramingAt = 0;
    while (sent < count && performance.now() < deadline) {
      const conn = [...conns].find((c) => c.authed && !c.socket.destroyed);
      if (!conn || h.adapter.state !== 'ready') {
        await sleep(5);
        continue;
      }
      if (target.agent.endReason && !replacing) {
        targetsEnded++;
        replacing = true;
        void h.open().then(
          (t) => {
            target = t;
            targets++;
            replacing = false;
          },
          (err: unknown) => failures.push(`could not open a new ESL target: ${String(err)}`),
        );
      }
      for (let i = 0; i < BATCH && sent < count; i++, sent++) {
        const now = performance.now();
        const framing = now >= nextFramingAt && rnd() < 0.02;
        const input = fz.next(target.ch.uuid, framing);
        byKind[input.kind]!++;
        conn.socket.write(input.data);
        if (input.framing) {
          framingSent++;
          nextFramingAt = now + 300;
          sent++;
          break; // the rest of this batch would land on a connection that is about to be dropped
        }
      }
      await backpressure(() => conn.socket.writableLength);
      await yieldIo();
      if (sent >= nextLog) {
        log(`  esl: ${sent} sent, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        nextLog += 100_000;
      }
    }
    const fuzzSeconds = (performance.now() - t0) / 1000;
    if (!(await until(() => h.adapter.state === 'ready', 5000))) failures.push(`ESL adapter not reconnected after the fuzz (state ${h.adapter.state})`);
    const inMinF = (): number => Math.min(...controls.map((c, i) => loud(c.agent.inbound, inBefore[i]!)));
    const outMinF = (): number => Math.min(...controls.map((c, i) => c.ch.heard.length - outBefore[i]!));
    await audioFlowed(inMinF, outMinF);
    const inMin = inMinF();
    const outMin = outMinF();
    for (const c of controls) if (c.agent.endReason) failures.push(`untargeted ESL call ${c.ch.uuid} ended during the fuzz (${c.agent.endReason})`);
    await until(() => !replacing, 8000);
    const leaks = await endFsCalls(h, controls, [target.ch], failures, 'ESL');
    const counters = numeric(h.adapter.counters());
    if (framingSent > 0 && (counters.eslConnects ?? 0) < 2) failures.push('ESL: framing errors were sent but the adapter never reconnected');
    if ((counters.eslEventErrors ?? 0) > 0) failures.push(`ESL: ${counters.eslEventErrors} exceptions escaped into the event handler`);
    if ((counters.eslEventsIgnored ?? 0) === 0) failures.push('ESL: no ignored event counted');
    return { phase: 'esl', seed, sent, byKind, seconds: fuzzSeconds, controls: nControls, targets, targetsEnded, counters: { ...counters, framingErrorsSent: framingSent }, controlAudioInMin: inMin, controlAudioOutMin: outMin, leaks, failures };
  } finally {
    await h.close();
  }
}

// ---- (c) mod_audio_stream WebSocket

async function wsPhase(count: number, seconds: number, seed: number, nControls: number, log: (l: string) => void): Promise<PhaseReport> {
  const fz = new StreamFrameFuzzer(prng(seed ^ 0x5bd1e995), 6400);
  const rnd = prng(seed);
  const h = await fsRig(seconds + 30);
  const failures: string[] = [];
  const byKind: Record<string, number> = Object.fromEntries(WS_KIND_NAMES.map((k) => [k, 0]));
  let sent = 0;
  let fatalSent = 0;
  let targets = 0;
  const t0 = performance.now();
  type Target = { ch: FakeChannel; agent: ToneEchoAgent; fatal: boolean };
  const live: Target[] = [];
  const all: Target[] = [];
  let opening = 0;
  const refill = (): void => {
    while (live.length + opening < 2) {
      opening++;
      void h.open().then(
        (t) => {
          opening--;
          const tt = { ...t, fatal: false };
          live.push(tt);
          all.push(tt);
          targets++;
        },
        (err: unknown) => {
          opening--;
          failures.push(`could not open a new stream target: ${String(err)}`);
        },
      );
    }
  };
  try {
    const controls: Array<{ ch: FakeChannel; agent: ToneEchoAgent }> = [];
    for (let i = 0; i < nControls; i++) controls.push(await h.open());
    refill();
    await until(() => live.length > 0, 8000);
    await sleep(500);
    const inBefore = controls.map((c) => c.agent.inbound.length);
    const outBefore = controls.map((c) => c.ch.heard.length);
    const deadline = performance.now() + seconds * 1000;
    let nextLog = 100_000;
    while (sent < count && performance.now() < deadline && failures.length === 0) {
      for (let i = live.length - 1; i >= 0; i--) if (live[i]!.fatal || live[i]!.agent.endReason || live[i]!.ch.stream?.state !== 'open') live.splice(i, 1);
      refill();
      if (live.length === 0) {
        await sleep(2);
        continue;
      }
      for (let i = 0; i < BATCH && sent < count; i++) {
        const t = live[Math.floor(rnd() * live.length)]!;
        const ws = t.ch.stream?.ws;
        if (t.fatal || !ws || ws.readyState !== ws.OPEN) break;
        const input = fz.next();
        byKind[input.kind]!++;
        sent++;
        if (input.kind === 'ping') ws.ping(input.data);
        else if (input.kind === 'pong') ws.pong(input.data);
        else if (input.kind === 'protocol-violation') (ws as unknown as { _socket: net.Socket })._socket.write(input.data);
        else ws.send(input.data, { binary: input.binary });
        if (WS_FATAL.has(input.kind)) {
          fatalSent++;
          t.fatal = true; // no more to this one: its stream is expected to be dropped and the call ended
          break;
        }
      }
      const ws0 = live[0]?.ch.stream?.ws;
      if (ws0) await backpressure(() => ws0.bufferedAmount);
      await yieldIo();
      if (sent >= nextLog) {
        log(`  ws: ${sent} sent, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        nextLog += 50_000;
      }
    }
    const fuzzSeconds = (performance.now() - t0) / 1000;
    await until(() => opening === 0 && all.every((t) => !t.fatal || t.agent.endReason !== null), 10_000);
    const inMinF = (): number => Math.min(...controls.map((c, i) => loud(c.agent.inbound, inBefore[i]!)));
    const outMinF = (): number => Math.min(...controls.map((c, i) => c.ch.heard.length - outBefore[i]!));
    await audioFlowed(inMinF, outMinF);
    const inMin = inMinF();
    const outMin = outMinF();
    for (const c of controls) if (c.agent.endReason) failures.push(`untargeted stream call ${c.ch.uuid} ended during the fuzz (${c.agent.endReason})`);
    for (const t of all) {
      if (t.fatal && t.agent.endReason !== 'error') failures.push(`stream target ${t.ch.uuid} got a broken frame but ended as ${t.agent.endReason ?? 'still running'}`);
      if (!t.fatal && t.agent.endReason) failures.push(`stream target ${t.ch.uuid} ended (${t.agent.endReason}) without a broken frame`);
    }
    const targetsEnded = all.filter((t) => t.agent.endReason).length;
    const leaks = await endFsCalls(h, controls, all.map((t) => t.ch), failures, 'stream');
    const counters = numeric(h.adapter.counters());
    if ((counters.malformedFrames ?? 0) < fatalSent) failures.push(`stream: ${fatalSent} broken frames sent but only ${counters.malformedFrames} counted`);
    return { phase: 'ws', seed, sent, byKind, seconds: fuzzSeconds, controls: nControls, targets, targetsEnded, counters: { ...counters, fatalFramesSent: fatalSent }, controlAudioInMin: inMin, controlAudioOutMin: outMin, leaks, failures };
  } finally {
    await h.close();
  }
}

// ---- all three

export async function runEventsFuzz(o: EventsFuzzOptions): Promise<EventsFuzzReport> {
  const log = o.log ?? (() => {});
  const nControls = o.controls ?? 4;
  let uncaught = 0;
  const onUncaught = (err: unknown): void => {
    uncaught++;
    log(`UNCAUGHT: ${err instanceof Error ? err.stack : String(err)}`);
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const baseline = handles();
  const t0 = performance.now();
  const phases: PhaseReport[] = [];
  const failures: string[] = [];
  const share = [0.4, 0.4, 0.2] as const;
  const counts = [Math.round(o.count * share[0]), Math.round(o.count * share[1])];
  counts.push(o.count - counts[0]! - counts[1]!);
  const runs = [ariPhase, eslPhase, wsPhase];
  try {
    for (let i = 0; i < 3; i++) {
      const seed = (o.seed + i * 0x9e3779b9) >>> 0;
      log(`events fuzz phase ${['ari', 'esl', 'ws'][i]}: ${counts[i]} inputs, seed ${seed}`);
      try {
        const p = await runs[i]!(counts[i]!, o.maxSeconds * share[i]!, seed, nControls, log);
        phases.push(p);
        if (p.sent < counts[i]!) p.failures.push(`time bound hit: ${p.sent} of ${counts[i]} inputs sent`);
        if (Object.keys(p.leaks).length) p.failures.push(`left behind: ${JSON.stringify(p.leaks)}`);
        if (p.controlAudioInMin < 25 || p.controlAudioOutMin < 25) p.failures.push(`an untargeted call's audio stalled (in ${p.controlAudioInMin}, out ${p.controlAudioOutMin} frames)`);
        failures.push(...p.failures.map((f) => `${p.phase}: ${f}`));
      } catch (err) {
        failures.push(`phase ${i} crashed: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
    // Keep-alive sockets and closing handles need a moment to go.
    let left: Record<string, number> = {};
    const settle = performance.now() + 8000;
    for (;;) {
      const now = handles();
      left = nonZero(Object.fromEntries(Object.keys(now).map((k) => [k, Math.max(0, now[k]! - (baseline[k] ?? 0))])));
      if (Object.keys(left).length === 0 || performance.now() > settle) break;
      await sleep(100);
    }
    if (Object.keys(left).length) failures.push(`handles left open after the run: ${JSON.stringify(left)}`);
    if (uncaught) failures.push(`${uncaught} uncaught exceptions / unhandled rejections`);
    const sent = phases.reduce((a, p) => a + p.sent, 0);
    return { ok: failures.length === 0, seed: o.seed, count: o.count, sent, seconds: (performance.now() - t0) / 1000, uncaught, handlesLeft: left, phases, failures };
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
}

/** Human-readable summary for the CLI and RESULTS.md. */
export function formatEventsFuzzReport(r: EventsFuzzReport): string {
  const kv = (o: Record<string, number>): string => Object.entries(o).filter(([, v]) => v !== 0).map(([k, v]) => `${k}=${v}`).join(' ');
  const lines = [`events fuzz ${r.ok ? 'PASSED' : 'FAILED'}: ${r.sent} of ${r.count} inputs (seed ${r.seed}) in ${r.seconds.toFixed(1)} s; uncaught ${r.uncaught}`];
  for (const p of r.phases) {
    lines.push(`  ${p.phase} (seed ${p.seed}): ${p.sent} inputs in ${p.seconds.toFixed(1)} s; ${p.controls} untargeted calls, ${p.targets} targets (${p.targetsEnded} ended by the fuzz)`);
    lines.push(`    by kind: ${kv(p.byKind)}`);
    lines.push(`    counters: ${kv(p.counters)}`);
    lines.push(`    untargeted calls during the fuzz, least frames with audio in / out: ${p.controlAudioInMin} / ${p.controlAudioOutMin}; left behind: ${Object.keys(p.leaks).length ? JSON.stringify(p.leaks) : 'nothing'}`);
  }
  lines.push(...r.failures.map((f) => `  FAIL: ${f}`));
  return lines.join('\n');
}
