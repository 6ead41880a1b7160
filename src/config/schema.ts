/**
 * The whole configuration, validated at start. Sections owned by one adapter live in their own
 * file beside this one; this file only assembles them and holds the core (media, agent) settings.
 */
import { z } from 'zod';
import { asteriskSchema } from './asterisk.ts';
import { freeswitchSchema } from './freeswitch.ts';
import { metricsSchema, opsSchema, recordsSchema } from './ops.ts';
import { providersSchema } from './providers.ts';
import { vicidialSchema } from './vicidial.ts';

export const vadSchema = z
  .object({
    /** WebRTC VAD mode 0-3 (3 = most aggressive at calling non-speech "non-speech"). */
    aggressiveness: z.number().int().min(0).max(3).default(3),
    /** Frames quieter than this (dBFS) are never speech: WebRTC VAD fires on steady noise. */
    energyGateDbfs: z.number().min(-90).max(0).default(-45),
    /** Voiced time needed before speech "starts". */
    onsetMs: z.number().int().min(20).max(1000).default(40),
    /** Unvoiced time needed before speech "ends" (smooths over short gaps). */
    hangoverMs: z.number().int().min(20).max(2000).default(200),
  })
  .strict()
  .default({});

export const mediaSchema = z
  .object({
    bindAddress: z.string().default('127.0.0.1'),
    rtpPortMin: z.number().int().min(1024).max(65534).default(40000),
    rtpPortMax: z.number().int().min(1025).max(65535).default(40999),
    codec: z.enum(['ulaw', 'alaw']).default('ulaw'),
    /** Jitter-buffer depth (the starting depth when adaptive). */
    jitterBufferMs: z.number().int().min(20).max(500).default(40),
    /**
     * Re-choose the depth from the measured jitter (3x jitter + 5 ms, between 10 ms and
     * jitterBufferMs * 3) at each talk-spurt, and shrink a never-pausing stream to it by dropping
     * quiet frames: next to Asterisk on the same host or LAN it settles at 10-15 ms, which is what
     * keeps barge-in and turn-taking fast; a jittery link grows it.
     */
    jitterAdaptive: z.boolean().default(true),
    /**
     * The media tick wakes this many ms early, builds the packets of the replies being spoken,
     * waits out the rest precisely and sends them in one burst at the instant: neither reading
     * datagrams at the due instant nor building the packets moves a call's send (0 = plain timer,
     * packets sent as they are built).
     */
    tickLeadMs: z.number().min(0).max(8).default(3),
    /**
     * Spread the calls (RTP calls and FreeSWITCH legs) over this many evenly spaced sub-ticks of
     * the 20 ms period (each call keeps its own for life): with many calls the media work comes in
     * small pieces, with socket reads between them, instead of one long one, and turn timers wait
     * less for the loop. At 500 calls 4 cut the added reply latency p50 from 9.6-17.6 ms to
     * 3.7-4.4 ms at the same CPU (bench/RESULTS.md). 1 = one tick per period.
     */
    tickSlots: z.number().int().min(1).max(10).default(4),
    /**
     * How RTP sockets are read and written. 'auto': batched native I/O (native/rtp-io, built by
     * `npm ci`) for IPv4 bind addresses: each sub-tick reads every socket that has datagrams in one
     * call and sends its burst in one call, with the kernel's arrival times; node:dgram when the
     * addon is not built. 'native': the same, but refuse to start without it. 'dgram': sockets that
     * read themselves (one JS callback per datagram). Batched, the daemon's side of the UDP floor at
     * 1,000 calls fell by about 40 %, and its CPU at 500 calls by 14-31 points (bench/RESULTS.md).
     */
    rtpIo: z.enum(['auto', 'native', 'dgram']).default('auto'),
    vad: vadSchema,
  })
  .strict()
  .refine((m) => m.rtpPortMax > m.rtpPortMin, {
    message: 'rtpPortMax must be greater than rtpPortMin',
    path: ['rtpPortMax'],
  })
  .default({});

export const bargeInSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Speech must last this long (or the recognizer must produce words) before our reply is dropped. */
    confirmMs: z.number().int().min(20).max(2000).default(120),
    /** After a pause for suspected barge-in, resume if no words arrive within this window. */
    falseStartMs: z.number().int().min(100).max(5000).default(900),
    /** No barge-in during the first part of the greeting (callers say "hello?" over it). */
    greetingGuardMs: z.number().int().min(0).max(10000).default(800),
    /** Caller utterances that acknowledge rather than interrupt: our reply resumes. */
    backchannels: z
      .array(z.string())
      .default(['uh huh', 'mm hmm', 'mhm', 'okay', 'ok', 'yeah', 'right', 'i see']),
    /** Echo guard: while we talk, caller audio must be this many dB above our outgoing level times the line's echo return loss. */
    echoGuardDb: z.number().min(0).max(40).default(12),
  })
  .strict()
  .default({});

/**
 * Answering machines that got past VICIdial's AMD (8369/8373 routing) to the AI: detected from the
 * caller-side audio by a beep or a long monologue at the start (src/agent/answering-machine.ts).
 * Statuses are VICIdial's own: AA = Answering Machine Auto, AL = Answering Machine Msg Played.
 */
export const amdSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Near-continuous "caller" speech this long early in the call is a greeting, not a person. */
    monologueMs: z.number().int().min(1000).max(30_000).default(4000),
    /** A monologue counts only if it reaches monologueMs within this time from answer. */
    windowMs: z.number().int().min(1000).max(60_000).default(8000),
    /** A beep decides "machine" only this long after answer (later pure tones: call waiting, hold music). */
    beepWindowMs: z.number().int().min(1000).max(120_000).default(15_000),
    /** Detected by monologue, action leave-message: wait this long for the beep before settling for a second of silence. */
    beepWaitMs: z.number().int().min(0).max(30_000).default(4000),
    action: z.enum(['hangup', 'leave-message']).default('hangup'),
    /** Spoken after the beep (action leave-message); plain text, no lead fields. */
    message: z
      .string()
      .min(1)
      .default('Hello, this is an automated assistant calling. We will try to reach you again later. Thank you, goodbye.'),
    /** VICIdial status set on detection (AA = Answering Machine Auto). */
    status: z.string().regex(/^[A-Z0-9]{1,6}$/).default('AA'),
    /** VICIdial status set once the message has played to the end (AL = Answering Machine Msg Played). */
    messageStatus: z.string().regex(/^[A-Z0-9]{1,6}$/).default('AL'),
  })
  .strict()
  .refine((a) => a.windowMs >= a.monologueMs, { message: 'windowMs must be at least monologueMs', path: ['windowMs'] })
  .refine((a) => a.beepWindowMs >= a.windowMs, { message: 'beepWindowMs must be at least windowMs', path: ['beepWindowMs'] })
  .default({});

export const agentSchema = z
  .object({
    /** Silence after the VAD's end of speech (which already waited media.vad.hangoverMs) that ends the caller's turn, unless the recognizer said so first. */
    endOfTurnMs: z.number().int().min(0).max(5000).default(250),
    silence: z
      .object({
        repromptAfterMs: z.number().int().min(1000).max(60000).default(7000),
        maxReprompts: z.number().int().min(0).max(10).default(2),
        /** Said before hanging up after maxReprompts silences. */
        goodbye: z.string().default("I'm sorry, I can't hear you. I'll try again another time. Goodbye."),
        /** VICIdial status for a call ended by silence. */
        disposition: z.string().regex(/^[A-Z0-9]{1,6}$/).default('NA'),
      })
      .strict()
      .default({}),
    maxCallSeconds: z.number().int().min(10).max(7200).default(600),
    /** A path to a campaign YAML; the embedded scripted brain runs it. */
    campaign: z.string().default('campaigns/solar-qualification.yaml'),
    /** LLM brain: system prompt (lead fields as {{first_name}}), used when an llm provider other than embedded is configured. */
    systemPrompt: z.string().optional(),
    /** LLM brain: the first thing said on answer (lead fields as {{first_name}}); the scripted brain uses its campaign's greeting. */
    greeting: z.string().default('Hello, this is an automated assistant calling. Do you have a minute?'),
    /** Said when a provider fails beyond its fallbacks, before the transfer/hang-up below. */
    apology: z.string().default("I'm sorry, I'm having trouble on my end."),
    /** A `transfers` name to send the caller to when the agent cannot go on; unset = hang up. */
    failureTransfer: z.string().optional(),
    /** No first audio of a reply within this long: the provider is treated as failed (fallback, apology, transfer or hang-up). */
    providerStallMs: z.number().int().min(1000).max(60000).default(6000),
    /** After the agent asks for a transfer, the PBX confirms it (or reports the caller gone) within this long; else the call ends as transferred. */
    transferConfirmMs: z.number().int().min(1000).max(120_000).default(15_000),
    maxReplyTokens: z.number().int().min(16).max(1024).default(150),
    bargeIn: bargeInSchema,
    amd: amdSchema,
  })
  .strict()
  .default({});

export const transferTargetSchema = z
  .object({
    description: z.string().default(''),
    /** Asterisk: dialplan target for continueInDialplan. */
    context: z.string().optional(),
    extension: z.string().optional(),
    priority: z.number().int().min(1).default(1),
    /** VICIdial in-group: the extension becomes 90009*<INGROUP>**<lead>**<phone>**<user>**. */
    ingroup: z.string().optional(),
  })
  .strict();

export const configSchema = z
  .object({
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        redactPhoneNumbers: z.boolean().default(true),
      })
      .strict()
      .default({}),
    media: mediaSchema,
    agent: agentSchema,
    transfers: z.record(z.string().regex(/^[a-z0-9_-]+$/i), transferTargetSchema).default({}),
    providers: providersSchema,
    asterisk: asteriskSchema,
    freeswitch: freeswitchSchema,
    vicidial: vicidialSchema,
    metrics: metricsSchema,
    records: recordsSchema,
    ops: opsSchema,
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type MediaConfig = Config['media'];
export type VadConfig = MediaConfig['vad'];
export type AgentConfig = Config['agent'];
export type AmdConfig = AgentConfig['amd'];
export type TransferTarget = z.infer<typeof transferTargetSchema>;
