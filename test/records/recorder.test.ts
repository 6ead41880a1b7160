import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesCallIndex } from '../../src/records/call-index.ts';
import { CallRecorder, shouldRecordAudio } from '../../src/records/call-recorder.ts';
import { foldEvents, initialRecord } from '../../src/records/events.ts';
import { recoverUnfinished, CRASH_DETAIL } from '../../src/records/recovery.ts';
import { applyRetention, scheduleRetention } from '../../src/records/retention.ts';
import { parseWavHeader, repairWav, wavHeader, WAV_HEADER_BYTES } from '../../src/records/wav.ts';
import { ManualClock } from '../../src/media/clock.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rec-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const start = (callId: string, startedAt = '2025-03-04T10:00:00.000Z', extra = {}) =>
  initialRecord({ callId, pbx: 'asterisk', startedAt, providers: { stt: 'embedded', llm: 'embedded', tts: 'embedded' }, ...extra });

function frame(value: number): Int16Array {
  return new Int16Array(160).fill(value);
}

describe('CallRecorder', () => {
  it('each side counts its own frames: an agent frame handed over before the caller frame of its tick stays on the same row', async () => {
    const rec = await CallRecorder.open({ dir, start: start('call-order'), recordAudio: true, flushMs: 100 });
    // A reply being spoken: the media session pulls the agent frame before it pushes the caller's.
    // Silence in between: caller first. Then talking again. Row k holds caller k and agent k.
    for (let k = 0; k < 4; k++) {
      rec.agent(frame(-(k + 1)));
      rec.caller(frame(k + 1));
    }
    for (let k = 4; k < 7; k++) {
      rec.caller(frame(k + 1));
      rec.agent(null);
    }
    for (let k = 7; k < 10; k++) {
      rec.agent(frame(-(k + 1)));
      rec.caller(frame(k + 1));
    }
    await rec.finish({ ...start('call-order'), endedAt: '2025-03-04T10:00:01.000Z', endReason: 'caller-hangup' as const });
    const buf = await readFile(rec.paths.wav);
    expect(parseWavHeader(buf).dataBytes).toBe(10 * 640);
    for (let k = 0; k < 10; k++) {
      expect(buf.readInt16LE(44 + k * 640)).toBe(k + 1);
      expect(buf.readInt16LE(44 + k * 640 + 2)).toBe(k >= 4 && k < 7 ? 0 : -(k + 1));
    }
  });

  it('appends stereo audio chunk by chunk with a true header after each chunk, then the final JSON', async () => {
    const rec = await CallRecorder.open({ dir, start: start('call-1', undefined, { callerNumber: '5551234567' }), recordAudio: true, flushMs: 100 });
    for (let i = 0; i < 5; i++) rec.tick(frame(1000 + i), frame(-7));
    await rec.flushed();
    // 5 frames = one 100 ms chunk on disk, header already patched
    let buf = await readFile(rec.paths.wav);
    expect(buf.length).toBe(WAV_HEADER_BYTES + 5 * 640);
    expect(parseWavHeader(buf).dataBytes).toBe(5 * 640);
    for (let i = 0; i < 3; i++) rec.tick(frame(5), null);
    rec.event({ type: 'transcript', entry: { role: 'caller', text: 'hello', startMs: 0, endMs: 500 } });
    await rec.flushed();
    buf = await readFile(rec.paths.wav);
    expect(buf.length).toBe(WAV_HEADER_BYTES + 5 * 640); // 3 frames still pending (< chunk)
    const journal = foldEvents(await readFile(rec.paths.events, 'utf8'));
    expect(journal?.record.transcript[0].text).toBe('hello');

    const final = { ...start('call-1', undefined, { callerNumber: '5551234567' }), endedAt: '2025-03-04T10:00:01.000Z', endReason: 'caller-hangup' as const };
    final.transcript.push({ role: 'caller', text: 'hello', startMs: 0, endMs: 500 });
    await rec.finish(final);
    buf = await readFile(rec.paths.wav);
    const h = parseWavHeader(buf);
    expect(h).toMatchObject({ channels: 2, sampleRate: 8000, bitsPerSample: 16, dataBytes: 8 * 640 });
    // frame 0: caller left = 1000, agent right = -7; frame 5: caller 5, agent silent
    expect(buf.readInt16LE(44)).toBe(1000);
    expect(buf.readInt16LE(46)).toBe(-7);
    expect(buf.readInt16LE(44 + 5 * 640)).toBe(5);
    expect(buf.readInt16LE(44 + 5 * 640 + 2)).toBe(0);
    const json = JSON.parse(await readFile(rec.paths.json, 'utf8'));
    expect(json.endReason).toBe('caller-hangup');
    expect(json.callerNumber).toBe('5551234567');
    await expect(stat(rec.paths.events)).rejects.toThrow(); // journal retired
    expect(rec.stats).toMatchObject({ framesWritten: 8, framesDropped: 0, writeErrors: 0 });
  });

  it('pads a side that is not fed and realigns it when it resumes', async () => {
    const rec = await CallRecorder.open({ dir, start: start('call-2'), recordAudio: true, flushMs: 20 });
    for (let i = 0; i < 10; i++) rec.caller(frame(3));
    rec.agent(frame(9));
    rec.caller(frame(3));
    await rec.finish({ ...start('call-2'), endReason: 'agent-hangup' });
    const buf = await readFile(rec.paths.wav);
    const frames = (buf.length - 44) / 640;
    expect(frames).toBe(11);
    const agentAt = (f: number) => buf.readInt16LE(44 + f * 640 + 2);
    expect(agentAt(0)).toBe(0);
    expect(agentAt(9)).toBe(9); // beside the 10th caller frame: the tick it was produced in
    expect(agentAt(10)).toBe(0);
  });

  it('writes no WAV when audio is off for the campaign, but keeps the record', async () => {
    const cfg = { recordAudio: true, noAudioCampaigns: ['CA_CONSENT'] };
    expect(shouldRecordAudio(cfg, 'CA_CONSENT')).toBe(false);
    expect(shouldRecordAudio(cfg, 'OTHER')).toBe(true);
    expect(shouldRecordAudio({ ...cfg, recordAudio: false }, 'OTHER')).toBe(false);
    const rec = await CallRecorder.open({ dir, start: start('call-3', undefined, { campaignId: 'CA_CONSENT' }), recordAudio: shouldRecordAudio(cfg, 'CA_CONSENT') });
    rec.tick(frame(1), frame(2));
    await rec.finish({ ...start('call-3'), endReason: 'caller-hangup' });
    await expect(stat(rec.paths.wav)).rejects.toThrow();
    expect(JSON.parse(await readFile(rec.paths.json, 'utf8')).callId).toBe('call-3');
  });

  it('masks the caller number in stored records when configured', async () => {
    const s = start('call-4', undefined, { callerNumber: '5551234567' });
    const rec = await CallRecorder.open({ dir, start: s, recordAudio: false, redactPhoneNumbers: true });
    await rec.finish({ ...s, endReason: 'caller-hangup' });
    const text = await readFile(rec.paths.json, 'utf8');
    expect(text).not.toContain('5551234567');
    expect(JSON.parse(text).callerNumber).toBe('5551****67');
  });

  it('rejects a call id that would escape the records folder', () => {
    expect(() => new CallRecorder({ dir, start: start('../etc/passwd'), recordAudio: false })).toThrow(/call id/);
  });
});

describe('WAV repair and recovery', () => {
  it('repairWav fixes a stale header and cuts a torn sample frame', async () => {
    const p = join(dir, 'x.wav');
    await writeFile(p, Buffer.concat([wavHeader(0), Buffer.alloc(643)]));
    const r = await repairWav(p);
    expect(r).toEqual({ repaired: true, dataBytes: 640, truncatedBytes: 3 });
    expect(parseWavHeader(await readFile(p)).dataBytes).toBe(640);
    expect((await repairWav(p)).repaired).toBe(false);
  });

  it('closes a call left without a final JSON with endReason error and its journal folded in', async () => {
    const rec = await CallRecorder.open({ dir, start: start('call-5'), recordAudio: true, flushMs: 20 });
    rec.tick(frame(1), frame(2));
    rec.event({ type: 'transcript', entry: { role: 'agent', text: 'Hi, this is Sam', startMs: 0, endMs: 900 } });
    rec.event({ type: 'action', atMs: 950, action: { type: 'set_disposition', status: 'NI' } });
    await rec.flushed();
    // simulate a stale header, as if killed before a patch landed
    const { open } = await import('node:fs/promises');
    const fh = await open(rec.paths.wav, 'r+');
    await fh.write(wavHeader(0), 0, 44, 0);
    await fh.close();
    const res = await recoverUnfinished({ dir });
    expect(res.recovered).toHaveLength(1);
    const r = res.recovered[0];
    expect(r.record).toMatchObject({ callId: 'call-5', endReason: 'error', endDetail: CRASH_DETAIL, disposition: 'NI' });
    expect(r.record.transcript[0].text).toBe('Hi, this is Sam');
    expect(r.wavRepaired).toBe(true);
    expect(parseWavHeader(await readFile(rec.paths.wav)).dataBytes).toBe(640);
    const index = new FilesCallIndex(dir);
    expect((await index.get('call-5'))?.endReason).toBe('error');
    expect((await recoverUnfinished({ dir })).recovered).toHaveLength(0);
  });
});

describe('files index and retention', () => {
  it('lists newest first, shows calls in progress, and retention removes old day folders', async () => {
    for (const [id, at] of [['old-1', '2025-01-01T08:00:00.000Z'], ['new-1', '2025-03-04T09:00:00.000Z'], ['new-2', '2025-03-04T11:00:00.000Z']] as const) {
      const rec = await CallRecorder.open({ dir, start: start(id, at), recordAudio: true, flushMs: 20 });
      rec.tick(frame(1), frame(1));
      await rec.finish({ ...start(id, at), endedAt: at.replace('00.000Z', '30.000Z'), endReason: 'caller-hangup' });
    }
    const running = await CallRecorder.open({ dir, start: start('live-1', '2025-03-04T12:00:00.000Z'), recordAudio: false });
    await running.flushed();
    const index = new FilesCallIndex(dir);
    const rows = await index.list();
    expect(rows.map((r) => r.callId)).toEqual(['live-1', 'new-2', 'new-1', 'old-1']);
    expect(rows[0].inProgress).toBe(true);
    expect(rows[1].durationSec).toBe(30);
    expect((await index.list({ limit: 2 })).length).toBe(2);
    expect((await index.list({ since: new Date('2025-03-04T10:00:00Z') })).map((r) => r.callId)).toEqual(['live-1', 'new-2']);

    const result = await applyRetention({ dir, days: 30, now: new Date('2025-03-05T00:00:00Z') });
    expect(result.removedDays).toEqual(['2025-01-01']);
    expect(await readdir(dir)).toEqual(['2025-03-04']);
    expect(await index.get('old-1')).toBeNull();
    expect((await applyRetention({ dir, days: 0, now: new Date('2030-01-01T00:00:00Z') })).removedDays).toEqual([]);
    await running.finish({ ...start('live-1', '2025-03-04T12:00:00.000Z'), endReason: 'shutdown' });
  });

  it('scheduleRetention runs at start and again a day later on the clock', async () => {
    const clock = new ManualClock();
    await mkdir(join(dir, '2020-01-01'));
    let runs = 0;
    let now = new Date('2025-01-01T00:00:00Z');
    const done: Array<() => void> = [];
    const stop = scheduleRetention({ dir, days: 10, clock, now: () => now, onRun: () => { runs++; done.shift()?.(); } });
    await new Promise<void>((r) => done.push(r));
    expect(runs).toBe(1);
    expect(await readdir(dir)).toEqual([]);
    await mkdir(join(dir, '2025-01-02'));
    now = new Date('2025-02-01T00:00:00Z');
    const second = new Promise<void>((r) => done.push(r));
    await new Promise((r) => setImmediate(r));
    clock.advance(24 * 3600 * 1000);
    await second;
    expect(runs).toBe(2);
    expect(await readdir(dir)).toEqual([]);
    stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
