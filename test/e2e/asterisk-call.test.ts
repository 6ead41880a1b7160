/**
 * End to end through the Asterisk path with the REAL agent: startDaemon (embedded pocketsphinx +
 * flite, the scripted solar campaign, records, metrics) against the fake ARI, driven by the real
 * ari-client. The fake's UnicastRTP side hears the greeting, speaks the caller's answer (flite 'rms',
 * mu-law, only while speaking, like Asterisk), hears the next prompt; the caller hangs up. Checked
 * from the outside: RTP at the fake, what is left in "Asterisk", the records on disk, /metrics.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseWavHeader } from '../../src/records/wav.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { callerVoice, callerText, agentText, muLawDecode, muLawEncode, readRecords, rms, startTestDaemon, waitFor, waitQuiet, closeAfterEach } from './helpers.ts';

const VICI_CID = 'V1241705010000012345';
const closing = closeAfterEach();

describe('e2e: daemon + real agent + fake Asterisk', () => {
  it('greets, understands "sure go ahead", asks the homeowner question, cleans up, records, counts', async () => {
    const voice = await callerVoice(['sure go ahead']);
    const fake = closing(await new FakeAri().start());
    const rig = await startTestDaemon(
      {
        asterisk: { url: fake.url, username: 'aibridge', password: 'test-secret', reconnect: { initialMs: 50, maxMs: 500 } },
        media: { rtpPortMin: 38000, rtpPortMax: 38039 },
      },
      { metricsPort0: true },
    );
    closing(rig);
    const { daemon } = rig;
    expect(daemon.asterisk?.state).toBe('connected');

    const caller = fake.startCall({ callerName: VICI_CID, callerNumber: '5551234567', vars: { CAMPCUST: 'SOLAR' } });
    await waitFor(() => fake.rtpFor(caller.id) !== undefined, 'ExternalMedia in the bridge', 10_000);
    const um = fake.rtpFor(caller.id)!;
    const em = fake.unicastChannels()[0]!;
    const ourPort = em.external!.port;
    expect(ourPort).toBeGreaterThanOrEqual(38000);
    expect(ourPort).toBeLessThanOrEqual(38039);

    // 1. The greeting arrives at Asterisk's UnicastRTP side: PT 0, 160-byte packets, from our port, not silent.
    await waitQuiet(() => um.received.length, 100, 1200, 'the greeting to finish', 30_000);
    const greeting = um.received.slice();
    expect(greeting.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(greeting[0]!.from).toBe(`127.0.0.1:${ourPort}`);
    expect(um.counters.strictDrops).toBe(0);
    expect(rms(muLawDecode(Buffer.concat(greeting.map((p) => p.payload))))).toBeGreaterThan(1000);
    expect(greeting.length * 20).toBeGreaterThan(3000); // a spoken sentence or more, not a blip

    // 2. The caller answers over RTP (packets only while speaking), and the next prompt comes.
    await um.play(muLawEncode(voice.get('sure go ahead')!));
    const afterAnswer = um.received.length;
    await waitFor(() => um.received.length - afterAnswer >= 50, 'the agent’s next prompt', 15_000);
    const reply = um.received.slice(afterAnswer, afterAnswer + 50);
    expect(rms(muLawDecode(Buffer.concat(reply.map((p) => p.payload))))).toBeGreaterThan(1000);
    // New talk-spurt after silence: the first packet carries the marker.
    expect(um.received[afterAnswer]!.marker).toBe(true);

    // metrics during the call: one active call.
    const during = await (await fetch(`${daemon.ops!.url}/metrics`)).text();
    expect(metric(during, 'ai_bridge_active_calls')).toBe(1);

    // 3. The caller hangs up: nothing of ours is left in Asterisk, the port is released.
    fake.hangup(caller.id);
    await waitFor(
      () => daemon.activeCalls() === 0 && daemon.asterisk!.counters().activeCalls === 0 && fake.unicastChannels().length === 0 && fake.bridges.size === 0,
      'cleanup',
      10_000,
    );
    expect([...fake.channels.values()]).toHaveLength(0);
    expect(daemon.asterisk!.counters()).toMatchObject({ activeCalls: 0, timersActive: 0 });
    const c = daemon.asterisk!.counters();
    expect(c.portsBound - c.portsReleased).toBe(0);
    expect(c.channelsCreated - c.channelsDeleted).toBe(0);
    expect(c.bridgesCreated - c.bridgesDeleted).toBe(0);
    await waitFor(() => readRecords(rig.recordsDir).length === 1, 'the call record', 10_000);

    // 4. The record + WAV on disk.
    const [{ record, wav }] = readRecords(rig.recordsDir);
    expect(record.endReason).toBe('caller-hangup');
    expect(record.pbx).toBe('asterisk');
    expect(record.leadId).toBe(12345);
    expect(callerText(record)).toContain('sure go ahead');
    expect(agentText(record).join(' ')).toMatch(/homeowner/i);
    expect(wav).not.toBeNull();
    const bytes = readFileSync(wav!);
    const h = parseWavHeader(bytes.subarray(0, 44));
    expect(h).toMatchObject({ channels: 2, sampleRate: 8000, bitsPerSample: 16 });
    expect(h.dataBytes).toBe(bytes.length - 44);
    expect(h.dataBytes / 32000).toBeGreaterThan(4); // seconds of call audio

    // 5. Metrics show the finished call.
    const after = await (await fetch(`${daemon.ops!.url}/metrics`)).text();
    expect(metric(after, 'ai_bridge_active_calls')).toBe(0);
    expect(metric(after, 'ai_bridge_calls_total{pbx="asterisk",outcome="caller-hangup"}')).toBe(1);
    // RTP counters are sampled every second from the media sessions
    await new Promise((r) => setTimeout(r, 1200));
    const rtp = await (await fetch(`${daemon.ops!.url}/metrics`)).text();
    expect(metric(rtp, 'ai_bridge_rtp_packets_total{kind="out"}')).toBeGreaterThan(100);
    expect(metric(rtp, 'ai_bridge_rtp_packets_total{kind="in"}')).toBeGreaterThan(20);
  }, 60_000);
});

/** One sample's value from Prometheus text (exact series name with labels as written). */
function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    if (line.slice(0, sp) === series) return Number(line.slice(sp + 1));
  }
  return undefined;
}
