/**
 * Measures the embedded recognizer for docs/embedded-speech-accuracy.md (not part of `npm test`: takes
 * minutes). Run: npx tsx test/embedded/measure-accuracy.mts [voices=kal16,rms,espeak] [rejectMargin] [minCoverage]
 * with PS_GRAMMAR=small for the 8-phrase "are you the homeowner?" grammar (default: all 20 IN_GRAMMAR
 * phrases), VERBOSE=1 for one line per utterance.
 * Every phrase is synthesized, sent through µ-law, written as 20 ms frames with 300 ms of silence before
 * and 500 ms after; after a 400 ms pause (the worker has drained) finalize() is called and the time to the
 * final is the end-of-speech -> final latency (our VAD's own hangover comes on top).
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { PocketsphinxStt, DEFAULT_REJECT_MARGIN } from '../../src/providers/stt/pocketsphinx.ts';
import type { SttEvent } from '../../src/providers/types.ts';
import { IN_GRAMMAR, OUT_OF_GRAMMAR, frames, phoneLine, synth, type TestVoice } from './speech-fixtures.ts';

const GRAMMAR = process.env.PS_GRAMMAR === 'small' ? ['yes', 'no', 'yes I am the homeowner', 'I rent', 'call me back tomorrow', 'not interested', 'take me off your list', 'who is this'] : IN_GRAMMAR;
const voices = (process.argv[2] ?? 'kal16,rms,espeak').split(',') as TestVoice[];
const margin = process.argv[3] !== undefined ? Number(process.argv[3]) : DEFAULT_REJECT_MARGIN;
const margins: number[] = [];
const coverages: number[] = [];
const minCoverage = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    const o = JSON.parse(chunk.toString()) as { msg?: string; margin?: number | null; coverage?: number | null };
    if (o.msg === 'final') (margins.push(o.margin ?? NaN), coverages.push(o.coverage ?? NaN));
    cb();
  },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const norm = (s: string) => s.toLowerCase().replace(/[^a-z' ]/g, '');

for (const voice of voices) {
  const audio = new Map<string, Int16Array>();
  for (const p of [...IN_GRAMMAR, ...OUT_OF_GRAMMAR]) audio.set(p, phoneLine(await synth(p, voice)));
  const events: SttEvent[] = [];
  const stt = new PocketsphinxStt({ rejectMargin: margin, minCoverage, logger: pino({ level: 'debug' }, sink) });
  const s = await stt.open({ callId: 'm', signal: new AbortController().signal, expect: { phrases: GRAMMAR } }, (e) => events.push(e));
  let near = 0, nearRejected = 0, ok = 0, rejected = 0, wrong = 0, oogRejected = 0, audioSec = 0, cpuUs = 0;
  const lat: number[] = [];
  const rows: string[] = [];
  for (const [p, pcm] of audio) {
    const fr = frames(pcm);
    audioSec += (fr.length * 20) / 1000;
    const c0 = process.cpuUsage();
    const n0 = events.length;
    for (const f of fr) s.write(f);
    await sleep(400);
    const t0 = performance.now();
    s.finalize();
    let fin: Extract<SttEvent, { type: 'final' }> | undefined;
    for (let i = 0; i < 2000 && !fin; i++) {
      await sleep(1);
      fin = events.slice(n0).find((e): e is Extract<SttEvent, { type: 'final' }> => e.type === 'final');
    }
    lat.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
    const text = fin?.text ?? '<none>';
    const inG = GRAMMAR.includes(p);
    if (!inG && IN_GRAMMAR.includes(p)) {
      near++;
      if (text === '') nearRejected++;
      rows.push(`near ${JSON.stringify(p)} -> ${JSON.stringify(text)} margin=${margins.at(-1)?.toFixed(1)} coverage=${coverages.at(-1)?.toFixed(2)}`);
      continue;
    }
    if (inG) {
      if (text === norm(p)) ok++;
      else if (text === '') rejected++;
      else wrong++;
    } else if (text === '') oogRejected++;
    rows.push(`${inG ? 'in ' : 'oog'} ${JSON.stringify(p)} -> ${JSON.stringify(text)} margin=${margins.at(-1)?.toFixed(1)} coverage=${coverages.at(-1)?.toFixed(2)}`);
  }
  await s.close();
  lat.sort((a, b) => a - b);
  if (process.env.VERBOSE) console.log(rows.join('\n'));
  console.log(
    `${voice}: in-grammar ${ok}/${GRAMMAR.length} correct, ${rejected} falsely rejected, ${wrong} wrong; ${near} near phrases (in IN_GRAMMAR, not in this grammar) rejected ${nearRejected}; ` +
      `out-of-grammar ${oogRejected}/${OUT_OF_GRAMMAR.length} rejected; finalize->final median ${lat[lat.length >> 1].toFixed(0)} ms, ` +
      `max ${lat.at(-1)!.toFixed(0)} ms; CPU (whole process, incl. 400 ms idle waits) ${(cpuUs / 1e6 / audioSec).toFixed(3)} s per s of audio`,
  );
  console.log(`margins ${voice}: ${margins.splice(0).map((m) => m.toFixed(1)).join(' ')}`);
  console.log(`coverage ${voice}: ${coverages.splice(0).map((m) => m.toFixed(2)).join(' ')}`);
}
