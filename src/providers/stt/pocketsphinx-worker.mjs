// One pocketsphinx decoder for one call, inside a worker_thread: decoding on the main thread stalled the
// event loop up to 213 ms. Plain JavaScript on purpose: the daemon's TypeScript loader (tsx) and vitest's
// transformer do not reach worker threads, so this file must run on bare Node. The main-thread side
// (pocketsphinx.ts) upsamples to 16 kHz and sends batches of Int16 samples.
//
// Messages in:  {t:'audio', pcm:Int16Array}  {t:'grammar', phrases:string[]}  {t:'finalize'}  {t:'close'}
// Messages out: {t:'ready', dropped:string[]}  {t:'speech-start'}  {t:'partial', text}
//               {t:'final', text, confidence, raw, margin, decodeMs}  {t:'error', message}
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import fs from 'node:fs';

const require = createRequire(import.meta.url);
const koffi = require('koffi');

const ps = koffi.load('libpocketsphinx.so.3');
const sb = koffi.load('libsphinxbase.so.3');
const f = {
  ps_args: ps.func('void *ps_args()'),
  cmd_ln_parse_r: sb.func('void *cmd_ln_parse_r(void *inout, void *defn, int argc, const char **argv, int strict)'),
  ps_init: ps.func('void *ps_init(void *config)'),
  ps_free: ps.func('int ps_free(void *ps)'),
  ps_start_utt: ps.func('int ps_start_utt(void *ps)'),
  ps_end_utt: ps.func('int ps_end_utt(void *ps)'),
  ps_process_raw: ps.func('int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
  ps_get_in_speech: ps.func('uint8_t ps_get_in_speech(void *ps)'),
  ps_get_hyp: ps.func('const char *ps_get_hyp(void *ps, _Out_ int32_t *score)'),
  ps_get_n_frames: ps.func('int ps_get_n_frames(void *ps)'),
  ps_set_jsgf_string: ps.func('int ps_set_jsgf_string(void *ps, const char *name, const char *jsgf)'),
  ps_set_lm_file: ps.func('int ps_set_lm_file(void *ps, const char *name, const char *path)'),
  ps_set_search: ps.func('int ps_set_search(void *ps, const char *name)'),
  ps_add_word: ps.func('int ps_add_word(void *ps, const char *word, const char *phones, int update)'),
  ps_seg_iter: ps.func('void *ps_seg_iter(void *ps)'),
  ps_seg_next: ps.func('void *ps_seg_next(void *seg)'),
  ps_seg_word: ps.func('const char *ps_seg_word(void *seg)'),
  ps_seg_frames: ps.func('void ps_seg_frames(void *seg, _Out_ int *sf, _Out_ int *ef)'),
  ps_seg_free: ps.func('void ps_seg_free(void *seg)'),
};

/** The en-us model's phones: the garbage path is a free loop of them (pseudo-words ph_aa, ph_ae, ...). */
const PHONES = 'AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH'.split(' ');

/** @type {{modelDir:string, dictPath:string, lmPath:string, phrases:string[], rejectMargin:number, minCoverage:number, maxUttSec:number}} */
const cfg = workerData;
const RATE = 16000;
const PARTIAL_EVERY = RATE / 2; // a partial hypothesis at most every 0.5 s of audio: ps_get_hyp walks the lattice
const PREROLL = RATE / 2; // audio kept before the decoder's speech onset, for the second pass

let decoder = null;
let dict = null; // Set of dictionary words, loaded once (3 MB file, ~50 ms)
const grammarNames = new Map(); // JSGF text -> search name: grammars are cached, never re-parsed
let mode = 'grammar'; // or 'lm' (open vocabulary, no rejection)
let lmLoaded = false;
let inUtt = false;
let heardSpeech = false;
let sinceSpeechCheck = 0;
let lastPartial = '';
// Speech audio of the current utterance (16 kHz), re-decoded against the phone loop at finalize.
const store = new Int16Array(RATE * cfg.maxUttSec);
let storeLen = 0;
let storeOverflow = false;
const preroll = new Int16Array(PREROLL);
let prerollPos = 0;
let prerollFull = false;

function post(msg) {
  parentPort.postMessage(msg);
}

function loadDict() {
  if (dict) return dict;
  dict = new Set();
  const text = fs.readFileSync(cfg.dictPath, 'latin1');
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', start);
    if (sp > start && sp < end) dict.add(text.slice(start, sp));
    start = end + 1;
  }
  return dict;
}

/** Lower-case words the dictionary knows; phrases with an unknown word are dropped (and reported). */
function normalize(phrases) {
  const words = loadDict();
  const kept = [];
  const dropped = [];
  for (const p of phrases) {
    const norm = String(p)
      .toLowerCase()
      .replace(/[^a-z' ]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (!norm) continue;
    if (norm.split(' ').every((w) => words.has(w))) {
      if (!kept.includes(norm)) kept.push(norm);
    } else dropped.push(String(p));
  }
  return { kept, dropped };
}

function jsgf(alternatives) {
  return `#JSGF V1.0;\ngrammar g;\npublic <s> = ${alternatives.map((a) => `( ${a} )`).join(' | ')};\n`;
}

function check(rc, what) {
  if (rc < 0) throw new Error(`pocketsphinx: ${what} failed`);
}

/** Returns the phrases it could not use. */
function useGrammar(phrases) {
  if (inUtt) endUtt();
  let dropped = [];
  if (phrases.length === 0) {
    if (!lmLoaded) {
      check(f.ps_set_lm_file(decoder, 'lm', cfg.lmPath), 'loading the language model');
      lmLoaded = true;
    }
    check(f.ps_set_search(decoder, 'lm'), 'ps_set_search(lm)');
    mode = 'lm';
  } else {
    const n = normalize(phrases);
    dropped = n.dropped;
    if (n.kept.length === 0) return [...dropped, ...useGrammar([])]; // nothing usable: open vocabulary
    const text = jsgf(n.kept);
    let name = grammarNames.get(text);
    if (!name) {
      name = `g${grammarNames.size}`;
      check(f.ps_set_jsgf_string(decoder, name, text), 'ps_set_jsgf_string');
      grammarNames.set(text, name);
    }
    check(f.ps_set_search(decoder, name), 'ps_set_search');
    mode = 'grammar';
    grammarSearch = name;
  }
  startUtt();
  return dropped;
}
let grammarSearch = '';

function startUtt() {
  check(f.ps_start_utt(decoder), 'ps_start_utt');
  inUtt = true;
  heardSpeech = false;
  sinceSpeechCheck = 0;
  lastPartial = '';
  storeLen = 0;
  storeOverflow = false;
  prerollPos = 0;
  prerollFull = false;
}

function endUtt() {
  check(f.ps_end_utt(decoder), 'ps_end_utt');
  inUtt = false;
}

function remember(pcm) {
  if (!heardSpeech) {
    // ring buffer of the last 0.5 s: the decoder's VAD flags speech a few frames after it starts
    for (let i = 0; i < pcm.length; i++) {
      preroll[prerollPos++] = pcm[i];
      if (prerollPos === PREROLL) {
        prerollPos = 0;
        prerollFull = true;
      }
    }
    return;
  }
  if (storeLen + pcm.length > store.length) {
    storeOverflow = true;
    return;
  }
  store.set(pcm, storeLen);
  storeLen += pcm.length;
}

function onAudio(pcm) {
  if (!inUtt) startUtt();
  f.ps_process_raw(decoder, pcm, pcm.length, 0, 0);
  remember(pcm);
  if (!heardSpeech && f.ps_get_in_speech(decoder)) {
    heardSpeech = true;
    // the onset: keep the pre-roll (oldest first) as the start of the stored utterance
    if (prerollFull) {
      store.set(preroll.subarray(prerollPos), 0);
      store.set(preroll.subarray(0, prerollPos), PREROLL - prerollPos);
      storeLen = PREROLL;
    } else {
      store.set(preroll.subarray(0, prerollPos), 0);
      storeLen = prerollPos;
    }
    post({ t: 'speech-start' });
  }
  if (heardSpeech) {
    sinceSpeechCheck += pcm.length;
    if (sinceSpeechCheck >= PARTIAL_EVERY) {
      sinceSpeechCheck = 0;
      const hyp = f.ps_get_hyp(decoder, [0]) ?? '';
      if (hyp && hyp !== lastPartial) {
        lastPartial = hyp;
        post({ t: 'partial', text: hyp });
      }
    }
  }
}

/** Best path score over the stored audio with the phone loop, or null when it found nothing. */
function garbageScore() {
  check(f.ps_set_search(decoder, 'garbage'), 'ps_set_search(garbage)');
  try {
    check(f.ps_start_utt(decoder), 'ps_start_utt(garbage)');
    f.ps_process_raw(decoder, store.subarray(0, storeLen), storeLen, 0, 1);
    check(f.ps_end_utt(decoder), 'ps_end_utt(garbage)');
    const score = [0];
    const hyp = f.ps_get_hyp(decoder, score);
    return hyp ? { score: score[0], speechFrames: countSpeechFrames() } : null;
  } finally {
    check(f.ps_set_search(decoder, grammarSearch), 'ps_set_search');
  }
}

/** Frames the best grammar path spends in words (not silence or fillers). */
function countSpeechFrames() {
  let n = 0;
  const sf = [0];
  const ef = [0];
  for (let it = f.ps_seg_iter(decoder); it; it = f.ps_seg_next(it)) {
    const w = f.ps_seg_word(it);
    if (w.startsWith('<') || w.startsWith('[')) continue;
    f.ps_seg_frames(it, sf, ef);
    n += ef[0] - sf[0] + 1;
  }
  return n;
}

function onFinalize() {
  const t0 = performance.now();
  if (!inUtt) startUtt();
  endUtt();
  const score = [0];
  const raw = f.ps_get_hyp(decoder, score) ?? '';
  const speechFrames = raw ? countSpeechFrames() : 0;
  let text = raw;
  let margin = null;
  let coverage = null;
  let confidence = raw ? 1 : 0;
  if (raw && mode === 'grammar' && heardSpeech && storeLen > 0 && !storeOverflow) {
    // A closed grammar always finds its nearest phrase. Re-decode the same audio with a free phone
    // loop: in-grammar speech scores about as well on the phrase as on the loop (the loop pays a
    // transition penalty per phone), out-of-grammar speech scores far worse on the phrase. The
    // difference per speech frame is thresholded (tuning: docs/embedded-speech-accuracy.md).
    const g = garbageScore();
    // Coverage guards the other way out: a short phrase matched on a sliver of a long utterance, the
    // rest explained as silence, scores well per word frame but covers little of what the loop heard.
    if (g !== null && speechFrames > 0) {
      margin = (score[0] - g.score) / speechFrames;
      coverage = g.speechFrames > 0 ? speechFrames / g.speechFrames : 1;
      confidence = 1 / (1 + Math.exp(-(margin - cfg.rejectMargin) / 4));
      if (coverage < cfg.minCoverage) confidence = Math.min(confidence, coverage);
      if (margin < cfg.rejectMargin || coverage < cfg.minCoverage) text = '';
    }
  }
  post({ t: 'final', text, raw, margin, coverage, confidence, decodeMs: performance.now() - t0 });
  startUtt();
}

function init() {
  const argv = ['-hmm', cfg.modelDir, '-dict', cfg.dictPath, '-logfn', '/dev/null', '-samprate', String(RATE)];
  const config = f.cmd_ln_parse_r(null, f.ps_args(), argv.length, argv, 1);
  if (!config) throw new Error('pocketsphinx: bad configuration');
  decoder = f.ps_init(config);
  if (!decoder) throw new Error(`pocketsphinx: decoder init failed (model ${cfg.modelDir})`);
  const garbage = PHONES.map((ph) => `ph_${ph.toLowerCase()}`);
  // update=1 only on the last word: rebuilding the search's dictionary once, not 39 times
  PHONES.forEach((ph, i) => check(f.ps_add_word(decoder, garbage[i], ph, i === PHONES.length - 1 ? 1 : 0), 'ps_add_word'));
  check(f.ps_set_jsgf_string(decoder, 'garbage', jsgf([`( ${garbage.join(' | ')} )+`])), 'garbage grammar');
  return useGrammar(cfg.phrases);
}

parentPort.on('message', (msg) => {
  try {
    switch (msg.t) {
      case 'audio':
        onAudio(msg.pcm);
        break;
      case 'grammar': {
        const dropped = useGrammar(msg.phrases);
        if (dropped.length) post({ t: 'dropped', phrases: dropped });
        break;
      }
      case 'finalize':
        onFinalize();
        break;
      case 'close':
        if (decoder) {
          if (inUtt) f.ps_end_utt(decoder);
          f.ps_free(decoder);
          decoder = null;
        }
        parentPort.close();
        break;
    }
  } catch (err) {
    post({ t: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});

try {
  const dropped = init();
  post({ t: 'ready', dropped });
} catch (err) {
  post({ t: 'error', message: err instanceof Error ? err.message : String(err) });
}
