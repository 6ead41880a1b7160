import { describe, expect, it } from 'vitest';
import { ulawDecode, ulawEncode } from '../../src/media/g711.ts';
import { JitterBuffer, type JitterFrameKind } from '../../src/media/jitter-buffer.ts';
import type { RtpPacket } from '../../src/media/rtp-packet.ts';

const SSRC = 0x1497dece;

/** Payload whose first byte identifies the packet (seq & 0x7f, never 0xff = silence). */
function pkt(seq: number, opts: { ts?: number; ssrc?: number; marker?: boolean; len?: number } = {}): RtpPacket {
  const payload = new Uint8Array(opts.len ?? 160).fill(seq & 0x7f);
  return {
    version: 2,
    padding: false,
    marker: opts.marker ?? false,
    payloadType: 0,
    sequence: seq & 0xffff,
    timestamp: (opts.ts ?? seq * 160) >>> 0,
    ssrc: opts.ssrc ?? SSRC,
    csrcs: [],
    payload,
  };
}

interface Out {
  kind: JitterFrameKind;
  seq?: number;
  first: number;
}

/** Pop `n` frames at 20 ms steps from `t0`. */
function drain(jb: JitterBuffer, t0: number, n: number): Out[] {
  const res: Out[] = [];
  for (let i = 0; i < n; i++) {
    const f = jb.pop(t0 + i * 20);
    expect(f.payload.length).toBe(160);
    res.push({ kind: f.kind, seq: f.seq, first: f.payload[0] });
  }
  return res;
}

const kinds = (o: Out[]): string => o.map((x) => x.kind[0]).join('');
const seqs = (o: Out[]): (number | undefined)[] => o.filter((x) => x.kind === 'audio').map((x) => x.seq);

describe('JitterBuffer', () => {
  it('holds a talk-spurt for depthMs, then plays in order, one frame per pop', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    for (let i = 0; i < 5; i++) jb.push(pkt(100 + i), i * 20);
    const out = drain(jb, 20, 7);
    expect(kinds(out)).toBe('ssaaaaa');
    expect(seqs(out)).toEqual([100, 101, 102, 103, 104]);
    expect(out[2].first).toBe(100 & 0x7f);
    expect(jb.counters).toMatchObject({ received: 5, played: 5, lost: 0, late: 0 });
  });

  it('reorders by sequence number', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    for (const [s, t] of [
      [10, 0],
      [12, 20],
      [11, 25],
      [14, 40],
      [13, 45],
    ]) jb.push(pkt(s), t);
    expect(seqs(drain(jb, 60, 5))).toEqual([10, 11, 12, 13, 14]);
    expect(jb.counters.reordered).toBe(2);
    expect(jb.counters.lost).toBe(0);
  });

  it('packets reordered before the first one still play (anchor moves back)', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    jb.push(pkt(51), 0);
    jb.push(pkt(50), 5);
    expect(seqs(drain(jb, 40, 2))).toEqual([50, 51]);
  });

  it('drops duplicates, buffered or already played', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    jb.push(pkt(1), 0);
    jb.push(pkt(1), 1);
    jb.push(pkt(2), 20);
    drain(jb, 40, 1); // plays 1
    jb.push(pkt(1), 41);
    expect(seqs(drain(jb, 60, 1))).toEqual([2]);
    expect(jb.counters.duplicate).toBe(2);
    expect(jb.counters.late).toBe(0);
  });

  it('conceals a loss inside a talk-spurt and counts it; the straggler is late', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    for (const s of [1, 2, 4, 5]) jb.push(pkt(s), s * 20);
    const out = drain(jb, 60, 4);
    expect(kinds(out)).toBe('aaca');
    expect(seqs(out)).toEqual([1, 2, 4]);
    jb.push(pkt(3), 125);
    expect(jb.counters).toMatchObject({ lost: 1, concealed: 1, late: 1 });
  });

  it('concealment repeats the last frame 6 dB down, fading to silence', () => {
    const jb = new JitterBuffer({ depthMs: 20 });
    const loud = new Int16Array(160).fill(16000);
    const p = pkt(1);
    ulawEncode(loud, p.payload as Uint8Array);
    jb.push(p, 0);
    for (let s = 7; s < 9; s++) jb.push(pkt(s), 0); // seq 2..6 missing
    const levels: number[] = [];
    const kindsSeen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const f = jb.pop(20 + 20 * i);
      kindsSeen.push(f.kind);
      levels.push(ulawDecode(f.payload)[0]);
    }
    expect(kindsSeen).toEqual(['audio', 'concealed', 'concealed', 'concealed', 'concealed', 'concealed']);
    expect(levels[1]).toBeGreaterThan(7000);
    expect(levels[1]).toBeLessThan(9000);
    expect(levels[2]).toBeGreaterThan(3500);
    expect(levels[2]).toBeLessThan(4500);
    expect(levels[4]).toBe(0);
    expect(jb.counters.lost).toBe(5);
  });

  it('end of talk-spurt (Asterisk sends nothing in silence): brief conceal, then silence, no loss counted', () => {
    const jb = new JitterBuffer({ depthMs: 40, concealMs: 40 });
    for (let i = 0; i < 3; i++) jb.push(pkt(200 + i, { ts: 160 * (i + 1) }), i * 20);
    const a = drain(jb, 40, 10);
    expect(kinds(a)).toBe('aaaccsssss');
    // 2 s later the next talk-spurt continues the sequence numbers, timestamp jumped, marker set.
    for (let i = 0; i < 3; i++) jb.push(pkt(203 + i, { ts: 16640 + 160 * i, marker: i === 0 }), 2060 + i * 20);
    const b = drain(jb, 2080, 5);
    expect(kinds(b)).toBe('saaac');
    expect(seqs(b)).toEqual([203, 204, 205]);
    expect(jb.counters).toMatchObject({ lost: 0, late: 0, played: 6 });
  });

  it('a packet that is only late (within concealMs) plays after the concealment: stretched, not lost', () => {
    const jb = new JitterBuffer({ depthMs: 20, concealMs: 40 });
    jb.push(pkt(1), 0);
    const out = [...drain(jb, 20, 2)]; // audio 1, then dry -> conceal while waiting for 2
    jb.push(pkt(2), 45); // late
    jb.push(pkt(3), 50);
    out.push(...drain(jb, 60, 3));
    expect(kinds(out)).toBe('acaac');
    expect(seqs(out)).toEqual([1, 2, 3]);
    expect(jb.counters).toMatchObject({ lost: 0, late: 0, concealed: 2, played: 3 });
  });

  it('dry, then a later packet comes first: the missing one is lost and the concealment already stood in for it', () => {
    const jb = new JitterBuffer({ depthMs: 20, concealMs: 40 });
    jb.push(pkt(1), 0);
    const out = [...drain(jb, 20, 2)]; // audio 1, conceal (2 missing, buffer dry)
    jb.push(pkt(3), 50);
    out.push(...drain(jb, 60, 1)); // 3 plays at once: no second concealed frame for 2
    expect(kinds(out)).toBe('aca');
    expect(seqs(out)).toEqual([1, 3]);
    jb.push(pkt(2), 70); // the straggler, after a later packet played
    expect(jb.counters).toMatchObject({ lost: 1, late: 1, concealed: 1 });
  });

  it('dry for two frames, then the next-but-one packet: one loss, the stream goes on without a third concealment', () => {
    const jb = new JitterBuffer({ depthMs: 20, concealMs: 60 });
    jb.push(pkt(1), 0);
    const out = [...drain(jb, 20, 3)]; // audio 1, conceal, conceal
    jb.push(pkt(3), 75);
    jb.push(pkt(4), 78);
    out.push(...drain(jb, 80, 2));
    // 2 is lost; the two concealed frames stood for 2 and a 20 ms stretch; 3 and 4 play on.
    expect(kinds(out)).toBe('accaa');
    expect(seqs(out)).toEqual([1, 3, 4]);
    expect(jb.counters).toMatchObject({ lost: 1, late: 0 });
  });

  it('adaptive: a 30 ms stall of a continuous stream loses nothing, and the stretch is taken back out of quiet frames', () => {
    const jb = new JitterBuffer({ depthMs: 40, adaptive: true });
    const loud = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0x10) });
    const quiet = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0xff) });
    // 1,500 frames, loud in the first and last 100, line silence between; once the delay has come
    // down, packet 200 is 30 ms late and 201 waits behind it (a sender's stall).
    const arrival = (i: number) => 3 + i * 20 + (i === 200 ? 30 : i === 201 ? 10 : 0);
    const isLoud = (i: number) => i < 100 || i >= 1400;
    const order = Array.from({ length: 1500 }, (_, i) => i).sort((a, b) => arrival(a) - arrival(b));
    let next = 0;
    const played: Array<{ seq: number; delay: number }> = [];
    for (let tick = 0; tick < 31000; tick += 20) {
      while (next < order.length && arrival(order[next]) <= tick) {
        const i = order[next++];
        jb.push(isLoud(i) ? loud(i) : quiet(i), arrival(i));
      }
      const f = jb.pop(tick);
      if (f.kind === 'audio') played.push({ seq: f.seq!, delay: tick - (3 + f.seq! * 20) });
    }
    expect(jb.counters).toMatchObject({ lost: 0, late: 0 });
    const loudPlayed = played.filter((p) => isLoud(p.seq)).map((p) => p.seq);
    expect(loudPlayed).toEqual(Array.from({ length: 1500 }, (_, i) => i).filter(isLoud));
    expect(played.some((p) => p.seq === 200)).toBe(true);
    // Just before the stall the delay had come down; right after it, it is larger by the stretch.
    // The buffer keeps that slack while it remembers the 30 ms peak (half-life ~14 s); by the
    // second speech, quiet frames have taken it back out.
    const before = played.find((p) => p.seq === 199)!;
    const after = played.find((p) => p.seq === 202)!;
    const back = played.find((p) => p.seq === 1400)!;
    expect(after.delay).toBeGreaterThanOrEqual(before.delay + 20);
    expect(back.delay).toBeLessThan(after.delay);
  });

  it('stretching is bounded: with no quiet frames to take it back, a stall past the bound costs a packet instead of more delay', () => {
    const jb = new JitterBuffer({ depthMs: 20, adaptive: true, concealMs: 100 });
    const loud = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0x10) });
    // Continuous speech; stalls at packets 50, 100, ... 250, each 20 ms longer than the last;
    // the packets behind a stall arrive with it. The first is within the initial slack.
    const stall = (i: number) => [50, 100, 150, 200, 250].indexOf(i);
    const arrival = (i: number): number => {
      const base = 3 + i * 20;
      const m = stall(i);
      if (m >= 0) return base + 30 + 20 * m;
      return i > 0 ? Math.max(base, arrival(i - 1)) : base;
    };
    let next = 0;
    const delays: number[] = [];
    for (let tick = 0; tick < 6000; tick += 20) {
      while (next < 300 && arrival(next) <= tick) jb.push(loud(next), arrival(next++));
      const f = jb.pop(tick);
      if (f.kind === 'audio') delays[f.seq!] = tick - (3 + f.seq! * 20);
    }
    // three stalls stretched the stream by a frame each (nothing lost); the last found the bound
    expect([delays[149], delays[199], delays[249]].map((d) => d - delays[49])).toEqual([20, 40, 60]);
    expect(jb.counters.late).toBe(1);
    expect(jb.counters.lost).toBe(1);
    expect(Math.max(...delays.filter((d) => d !== undefined))).toBeLessThanOrEqual(delays[49] + 60 + 20);
  });

  it('marker packet during the dry conceal window starts a new talk-spurt instead of being late', () => {
    const jb = new JitterBuffer({ depthMs: 20, concealMs: 40 });
    jb.push(pkt(1), 0);
    drain(jb, 20, 2); // audio, concealed (seq 2 skipped)
    jb.push(pkt(2, { ts: 8000, marker: true }), 45);
    const out = drain(jb, 60, 3);
    expect(seqs(out)).toEqual([2]);
    expect(jb.counters.late).toBe(0);
    expect(jb.counters.lost).toBe(0);
  });

  it('sequence wrap-around 65535 -> 0', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    const order = [65533, 65535, 65534, 0, 2, 1, 3];
    order.forEach((s, i) => jb.push(pkt(s), i * 20));
    const out = drain(jb, 40, 7);
    expect(seqs(out)).toEqual([65533, 65534, 65535, 0, 1, 2, 3]);
    expect(jb.counters).toMatchObject({ lost: 0, late: 0 });
    jb.push(pkt(65535), 200); // an old packet after the wrap is late/duplicate, not "far ahead"
    expect(jb.counters.duplicate + jb.counters.late).toBe(1);
    expect(jb.counters.resyncs).toBe(0);
  });

  it('SSRC change resets the buffer and plays the new stream', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    for (let i = 0; i < 3; i++) jb.push(pkt(1000 + i), i * 20);
    drain(jb, 40, 2);
    for (let i = 0; i < 3; i++) jb.push(pkt(5 + i, { ssrc: 99 }), 80 + i * 20);
    const out = drain(jb, 80, 5);
    expect(seqs(out)).toEqual([5, 6, 7]);
    expect(jb.counters.ssrcChanges).toBe(1);
    expect(jb.counters.late).toBe(0);
  });

  it('memory is bounded: a flood without pops drops the oldest (counted)', () => {
    const jb = new JitterBuffer({ depthMs: 60, maxDepthMs: 200 });
    jb.pop(0);
    for (let i = 0; i < 500; i++) jb.push(pkt(i), 0);
    expect(jb.buffered).toBeLessThanOrEqual(10);
    drain(jb, 100, 1);
    for (let i = 500; i < 600; i++) jb.push(pkt(i), 120);
    expect(jb.buffered).toBeLessThanOrEqual(10);
    expect(jb.counters.overflow).toBeGreaterThan(550);
    expect(jb.counters.resyncs).toBe(0);
  });

  it('a huge sequence jump restarts cleanly', () => {
    const jb = new JitterBuffer({ depthMs: 20 });
    jb.push(pkt(10), 0);
    drain(jb, 20, 1);
    jb.push(pkt(30000), 30);
    const out = drain(jb, 40, 3);
    expect(seqs(out)).toEqual([30000]);
    expect(jb.counters.resyncs).toBe(1);
  });

  it('pads a short final packet with silence', () => {
    const jb = new JitterBuffer({ depthMs: 20 });
    jb.push(pkt(1, { len: 104 }), 0);
    const f = jb.pop(20);
    expect(f.kind).toBe('audio');
    expect(f.payload[103]).toBe(1);
    expect(f.payload[104]).toBe(0xff);
  });

  it('with +-15 ms network jitter and 60 ms depth nothing is lost or concealed', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 30 - 15;
    const arrivals = Array.from({ length: 300 }, (_, i) => ({ seq: i, t: 1000 + i * 20 + rnd() }));
    arrivals.sort((a, b) => a.t - b.t);
    let k = 0;
    const out: Out[] = [];
    for (let tick = 0; tick < 320; tick++) {
      const now = 1000 + tick * 20;
      while (k < arrivals.length && arrivals[k].t <= now) jb.push(pkt(arrivals[k].seq), arrivals[k++].t);
      const f = jb.pop(now);
      out.push({ kind: f.kind, seq: f.seq, first: f.payload[0] });
    }
    expect(seqs(out)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(jb.counters).toMatchObject({ lost: 0, late: 0, concealed: 2 }); // 2 = the tail after the last packet
    expect(jb.jitter).toBeGreaterThan(3);
  });

  it('adaptive depth grows with measured jitter (applied at the next talk-spurt)', () => {
    const jb = new JitterBuffer({ depthMs: 40, adaptive: true });
    expect(jb.depthMs).toBe(40);
    // Alternating early/late arrivals: ~30 ms jitter.
    for (let i = 0; i < 50; i++) jb.push(pkt(i), i * 20 + (i % 2 ? 35 : 0));
    for (let i = 0; i < 60; i++) jb.pop(40 + i * 20);
    expect(jb.depthMs).toBeGreaterThan(40);
    expect(jb.depthMs).toBeLessThanOrEqual(120);
    const calm = new JitterBuffer({ depthMs: 60, adaptive: true });
    for (let i = 0; i < 50; i++) calm.push(pkt(i), i * 20);
    for (let i = 0; i < 60; i++) calm.pop(60 + i * 20);
    expect(calm.depthMs).toBe(10); // the floor: no jitter measured
    // A LAN's millisecond of jitter: 3x jitter + 5 ms of slack, not rounded up to a whole frame
    const lan = new JitterBuffer({ depthMs: 40, adaptive: true });
    for (let i = 0; i < 50; i++) lan.push(pkt(i), i * 20 + (i % 3) * 1.5);
    for (let i = 0; i < 60; i++) lan.pop(40 + i * 20);
    expect(lan.depthMs).toBeGreaterThanOrEqual(10);
    expect(lan.depthMs).toBeLessThan(20);
  });

  it('adaptive: with the small depth a jittery talk-spurt loses nothing, and playout starts depth..depth+20 ms after the first packet', () => {
    const jb = new JitterBuffer({ depthMs: 40, adaptive: true });
    // Spurt 1 teaches the buffer ~1 ms of jitter.
    for (let i = 0; i < 50; i++) jb.push(pkt(i), 3 + i * 20 + (i % 3) * 1.5);
    for (let i = 0; i < 60; i++) jb.pop(40 + i * 20);
    const depth = jb.depthMs;
    expect(depth).toBeLessThan(20);
    // Spurt 2, at a phase 7 ms after the ticks, with up to +-2 ms of wobble: all played, none late.
    const t0 = 2000;
    const arrivals: number[] = [];
    for (let i = 0; i < 50; i++) arrivals.push(t0 + 7 + i * 20 + ((i * 7) % 5) - 2);
    let started = -1;
    let next = 0;
    const played: number[] = [];
    for (let tick = t0; tick < t0 + 1200; tick += 20) {
      while (next < arrivals.length && arrivals[next] <= tick) jb.push(pkt(100 + next), arrivals[next++]);
      const f = jb.pop(tick);
      if (f.kind === 'audio') {
        if (started < 0) started = tick;
        played.push(f.seq!);
      }
    }
    expect(played).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    expect(jb.counters.late).toBe(0);
    expect(started - arrivals[0]).toBeGreaterThanOrEqual(depth);
    expect(started - arrivals[0]).toBeLessThan(depth + 20);
  });

  it('adaptive: a stream that never pauses is brought down to the adaptive depth by dropping quiet frames only', () => {
    const jb = new JitterBuffer({ depthMs: 60, adaptive: true });
    const loud = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0x10) });
    const quiet = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0xff) });
    // 1 s of speech, 2 s of line silence, 1 s of speech: continuous RTP, arriving 3 ms after each tick.
    const kinds = Array.from({ length: 200 }, (_, i) => (i < 50 || i >= 150 ? 'loud' : 'quiet'));
    let next = 0;
    const played: Array<{ seq: number; delay: number; loud: boolean }> = [];
    for (let tick = 0; tick < 4400; tick += 20) {
      while (next < kinds.length && 3 + next * 20 <= tick) {
        jb.push(kinds[next] === 'loud' ? loud(next) : quiet(next), 3 + next * 20);
        next++;
      }
      const f = jb.pop(tick);
      if (f.kind === 'audio') played.push({ seq: f.seq!, delay: tick - (3 + f.seq! * 20), loud: f.payload[0] === 0x10 });
    }
    // Every loud frame played, in order; only quiet ones were dropped; nothing lost or late.
    expect(played.filter((p) => p.loud).map((p) => p.seq)).toEqual(kinds.flatMap((k, i) => (k === 'loud' ? [i] : [])));
    expect(jb.counters).toMatchObject({ lost: 0, late: 0 });
    expect(jb.counters.skipped).toBeGreaterThan(0);
    expect(played.length + jb.counters.skipped).toBe(200);
    // The first speech carries the initial 60 ms; after the silence the delay is the adaptive one.
    expect(played[0].delay).toBeGreaterThanOrEqual(60);
    const second = played.find((p) => p.seq === 150)!;
    expect(second.delay).toBeLessThan(20);
    expect(second.delay).toBeGreaterThanOrEqual(10);
  });

  it('a fixed-depth buffer never drops frames to shrink', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    let audio = 0;
    for (let t = 0, i = 0; t < 2200; t += 20) {
      for (; i < 100 && i * 20 <= t; i++) jb.push({ ...pkt(i), payload: new Uint8Array(160).fill(0xff) }, i * 20);
      if (jb.pop(t).kind === 'audio') audio++;
    }
    expect(audio).toBe(100);
    expect(jb.counters.skipped).toBe(0);
  });

  it('adaptive: a sender that stalls now and then (rare 12 ms delays) gets enough slack that nothing is late', () => {
    const jb = new JitterBuffer({ depthMs: 40, adaptive: true });
    // one packet in 50 is 12 ms late: the mean jitter stays small, the peak does not
    const arrival = (i: number) => 3 + i * 20 + (i % 50 === 25 ? 12 : 0);
    let next = 0;
    for (let tick = 0; next < 400; tick += 20) {
      while (next < 400 && arrival(next) <= tick) jb.push(pkt(next), arrival(next++));
      jb.pop(tick);
      if (next === 200 && jb.counters.late === 0) break;
    }
    expect(jb.jitter).toBeLessThan(3);
    const before = jb.counters.late;
    // a pause, then the same sender again: the new talk-spurt starts with the peak-aware depth
    for (let tick = 8020; tick < 8200; tick += 20) jb.pop(tick);
    expect(jb.depthMs).toBeGreaterThanOrEqual(14);
    const t0 = 9000;
    let k = 0;
    for (let tick = t0; tick < t0 + 3000; tick += 20) {
      while (k < 120 && t0 + arrival(k) <= tick) jb.push(pkt(1000 + k), t0 + arrival(k++));
      jb.pop(tick);
    }
    expect(jb.counters.late - before).toBe(0);
  });

  it('pendingAbove: looks at what has arrived but not played yet; audio frames carry their arrival time', () => {
    const jb = new JitterBuffer({ depthMs: 40 });
    const quiet = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0xff) });
    const loud = (seq: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(0x10) });
    expect(jb.pendingAbove(-45)).toBe(false);
    jb.push(quiet(0), 0);
    jb.push(quiet(1), 20);
    expect(jb.pendingAbove(-45)).toBe(false); // not playing yet: the held frames are looked at too
    jb.push(loud(2), 40);
    expect(jb.pendingAbove(-45)).toBe(true);
    const f = jb.pop(40);
    expect(f.kind).toBe('audio');
    expect(f.arrivalMs).toBe(0);
    expect(jb.pop(60).arrivalMs).toBe(20);
    expect(jb.pendingAbove(-45)).toBe(true);
    expect(jb.pendingAbove(0)).toBe(false); // nothing at full scale
    expect(jb.pop(80).arrivalMs).toBe(40);
    expect(jb.pendingAbove(-45)).toBe(false);
    expect(Number.isNaN(jb.pop(100).arrivalMs)).toBe(true); // concealment has no arrival
  });

  it('pendingAbove measures each frame once and forgets it with the frame: a slot reused by a loud frame is loud', () => {
    const jb = new JitterBuffer({ depthMs: 20 });
    const frame = (seq: number, byte: number) => ({ ...pkt(seq), payload: new Uint8Array(160).fill(byte) });
    // A few rounds through the whole ring (its slots are reused), quiet and loud in turn; each
    // frame is asked about twice, before and after the one ahead of it has played.
    for (let seq = 0, t = 0; seq < 600; seq++, t += 20) {
      const loud = Math.floor(seq / 7) % 2 === 1;
      jb.push(frame(seq, loud ? 0x10 : 0xff), t);
      expect(jb.pendingAbove(-45)).toBe(loud);
      expect(jb.pendingAbove(-45)).toBe(loud);
      jb.pop(t + 20);
    }
  });
});
