/**
 * The simulated caller: a phone on the far side of a real RTP link. It behaves like Asterisk's
 * UnicastRTP leg (sends only while speaking, marker on each talk-spurt, RFC 4733 digits), speaks a
 * script of pre-synthesized utterances, and keeps both sides' audio by 20 ms slot for the WAV and
 * for measurements taken on the audio itself.
 */
import { FRAME_MS, FRAME_SAMPLES, type Pcm } from '../media/audio-frame.ts';
import { decoderFor, encoderFor, G711_PAYLOAD_TYPE, type G711Codec } from '../media/g711.ts';
import { Pacer } from '../media/pacer.ts';
import type { RtpPacket } from '../media/rtp-packet.ts';
import { audible, type Utterance } from './audio-measure.ts';
import type { CallerStep } from './caller-script.ts';

const DEFAULT_QUIET_MS = 900;

export interface SimCallerOptions {
  readonly codec: G711Codec;
  readonly send: (packet: Buffer) => void;
  readonly script: readonly CallerStep[];
  /** PCM for each utterance text in the script (8 kHz). */
  readonly voice: ReadonlyMap<string, Pcm>;
}

export class SimCaller {
  /** Caller audio sent, per slot (null = nothing sent). */
  readonly callerSlots: Array<Pcm | null> = [];
  /** Agent audio received, per slot of arrival. */
  readonly agentSlots: Array<Pcm | null> = [];
  readonly agentAudible: boolean[] = [];
  readonly utterances: Utterance[] = [];
  readonly digits: Array<{ digit: string; slot: number }> = [];
  slot = 0;
  private readonly pacer: Pacer;
  private readonly encode;
  private readonly decode;
  private readonly payload = new Uint8Array(FRAME_SAMPLES);
  private step = 0;
  private stepFrom = 0;
  private speaking: { pcm: Pcm; off: number; utt: Utterance } | null = null;
  private lastAgentSlot = -1;
  private agentRunStart = -1;

  constructor(private readonly opts: SimCallerOptions) {
    this.pacer = new Pacer({ payloadType: G711_PAYLOAD_TYPE[opts.codec], send: opts.send });
    this.encode = encoderFor(opts.codec);
    this.decode = decoderFor(opts.codec);
  }

  get done(): boolean {
    return this.step >= this.opts.script.length && !this.speaking && !this.pacer.dtmfPending;
  }

  /** An RTP packet from the agent. */
  receive(pkt: RtpPacket): void {
    const pcm = this.decode(pkt.payload);
    let s = this.slot;
    while (this.agentSlots[s]) s++; // two packets in one slot: keep both, in order
    this.agentSlots[s] = pcm;
    this.agentAudible[s] = audible(pcm);
  }

  /** One 20 ms tick of the caller's clock. */
  tick(): void {
    const s = this.slot;
    this.agentSlots[s] ??= null;
    this.agentAudible[s] ??= false;
    // look at the previous slot (this one's packets may still be on their way)
    const prev = s - 1;
    if (prev >= 0 && this.agentAudible[prev]) {
      if (this.lastAgentSlot < prev - 5) this.agentRunStart = prev;
      this.lastAgentSlot = prev;
    }
    this.runScript(s);
    if (this.speaking) {
      const sp = this.speaking;
      const frame = new Int16Array(FRAME_SAMPLES);
      frame.set(sp.pcm.subarray(sp.off, sp.off + FRAME_SAMPLES));
      sp.off += FRAME_SAMPLES;
      if (audible(frame)) sp.utt.endSlot = s;
      this.callerSlots[s] = frame;
      this.pacer.tick(this.encode(frame, this.payload));
      if (sp.off >= sp.pcm.length) {
        this.speaking = null;
        this.stepFrom = s;
      }
    } else {
      this.callerSlots[s] = null;
      this.pacer.tick(null); // like Asterisk: nothing on the wire while the caller is silent
    }
    this.slot++;
  }

  private runScript(s: number): void {
    if (this.speaking || this.step >= this.opts.script.length) return;
    const st = this.opts.script[this.step];
    const heardAgent = this.lastAgentSlot > this.stepFrom;
    if (st.kind === 'barge-in') {
      if (!heardAgent || this.agentRunStart < this.stepFrom) return;
      if ((s - this.agentRunStart) * FRAME_MS < st.afterMs) return;
      this.say(st.text, s, true);
      return;
    }
    const quiet = (s - this.lastAgentSlot) * FRAME_MS >= (st.quietMs ?? DEFAULT_QUIET_MS);
    if (!heardAgent || !quiet) return;
    if (st.kind === 'dtmf') {
      this.pacer.sendDtmf(st.digit, 160);
      this.digits.push({ digit: st.digit, slot: s });
      this.step++;
      this.stepFrom = s + 10;
      return;
    }
    this.say(st.text, s, false);
  }

  private say(text: string, s: number, bargeIn: boolean): void {
    const pcm = this.opts.voice.get(text);
    if (!pcm) throw new Error(`no audio for caller line "${text}"`);
    // trim leading silence so the utterance starts when speech starts
    let off = 0;
    while (off + FRAME_SAMPLES < pcm.length && !audible(pcm.subarray(off, off + FRAME_SAMPLES))) off += FRAME_SAMPLES;
    const utt: Utterance = { text, startSlot: s, endSlot: s, bargeIn };
    this.utterances.push(utt);
    this.speaking = { pcm: pcm.subarray(off), off: 0, utt };
    this.step++;
  }
}
