/**
 * Reply latency, both playback paths, in real time: first reply frame pulled from the agent ->
 * first frame audible on the fake channel. The fake models FreeSWITCH's real behaviour: stream-audio
 * = chunk accumulation + WebSocket + temp-file write + ESL event + uuid_broadcast + playback start on
 * the next 20 ms media period; unicast = UDP datagram written into the channel, heard on the next
 * media period. Run: npx tsx test/freeswitch/measure-latency.ts
 */
import { startFreeswitchAdapter } from '../../src/pbx/freeswitch/index.ts';
import { freeswitchSchema } from '../../src/config/freeswitch.ts';
import { Ticker } from '../../src/media/ticker.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { ToneEchoFactory } from '../helpers/fake-freeswitch-agent.ts';

async function run(playback: 'unicast' | 'stream-audio', calls: number): Promise<number[]> {
  const fs = await FakeFreeswitch.start();
  const ticker = new Ticker();
  ticker.start();
  const factory = new ToneEchoFactory(25);
  const cfg = freeswitchSchema.parse({
    port: fs.port,
    password: fs.password,
    playback,
    ws: { port: 0, secret: 'measure-secret-0123456789' },
    unicast: { freeswitchPortMin: 49000, freeswitchPortMax: 49099 },
  })!;
  const adapter = await startFreeswitchAdapter({ freeswitch: cfg, transfers: {} }, { callFactory: factory, ticker });
  fs.startRealtime();
  const chans = Array.from({ length: calls }, () => fs.placeCall());
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !chans.every((c) => c.heard.length > 0)) await new Promise((r) => setTimeout(r, 20));
  const out = chans.map((c) => {
    const a = factory.get(c.uuid);
    return a?.firstAudioAt != null && c.heard[0] ? c.heard[0].atMs - a.firstAudioAt : NaN;
  });
  for (const c of chans) c.hangup();
  await adapter.close();
  ticker.stop();
  await fs.close();
  return out;
}

function stats(xs: number[]): string {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `n=${s.length} median=${q(0.5)} ms p90=${q(0.9)} ms max=${s[s.length - 1]!.toFixed(1)} ms`;
}

for (const mode of ['unicast', 'stream-audio'] as const) {
  const xs = await run(mode, 20);
  console.log(`${mode.padEnd(13)} first reply frame -> audible: ${stats(xs)}`);
}
