/** FreeSWITCH ESL + mod_audio_stream / unicast adapter settings (issue #7). Absent section = adapter off. */
import { z } from 'zod';

export const freeswitchSchema = z
  .object({
    /** ESL inbound connection (mod_event_socket). Loopback unless FreeSWITCH runs elsewhere. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(8021),
    /** event_socket.conf.xml `password`; never logged. Keep it out of files: AI_BRIDGE__FREESWITCH__PASSWORD. */
    password: z.string().min(1),
    reconnect: z
      .object({
        initialMs: z.number().int().min(10).max(60_000).default(500),
        maxMs: z.number().int().min(100).max(300_000).default(15_000),
      })
      .strict()
      .default({}),
    /** An api command unanswered this long fails (ESL is FIFO, so one stuck reply would block the rest). */
    apiTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** The channel variable our dialplan sets on calls meant for the AI (`ai_bridge=true`). */
    markerVariable: z.string().regex(/^[a-z0-9_]+$/i).default('ai_bridge'),
    /**
     * How the caller hears the agent. 'unicast' (default): FreeSWITCH's own full-duplex raw-audio UDP
     * (ESL sendmsg call-command unicast) — no files, no extra module. 'stream-audio': mod_audio_stream
     * streams the caller to our WebSocket and we send `streamAudio` chunks back, played by uuid_broadcast.
     */
    playback: z.enum(['unicast', 'stream-audio']).default('unicast'),
    /** mod_audio_stream side: our WebSocket server. */
    ws: z
      .object({
        bindHost: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8095),
        /** Per-deployment secret carried in the URL path; connections without it are refused. */
        secret: z.string().min(16).regex(/^[A-Za-z0-9_-]+$/, 'URL-safe characters only').optional(),
        /** Host FreeSWITCH uses to reach us (the URL we hand to uuid_audio_stream). */
        advertiseHost: z.string().default('127.0.0.1'),
        /** Rate asked of mod_audio_stream: 16k is downsampled to our 8 kHz core. */
        sampleRate: z.union([z.literal(8000), z.literal(16000)]).default(8000),
        /** Largest binary frame accepted (mod_audio_stream sends 20 ms unless STREAM_BUFFER_SIZE is raised). */
        maxFrameBytes: z.number().int().min(320).max(64_000).default(6_400),
      })
      .strict()
      .default({}),
    /**
     * stream-audio chunking. Audio is pulled at the pace it is spoken, so chunk k can be broadcast no
     * earlier than its own length after chunk k-1: the head start the first chunk gives (firstChunkMs -
     * chunkMs) is all that absorbs jitter in the file + event + broadcast round trip. Later chunks must
     * therefore be SMALLER than the first (see freeswitch-conf/README.md).
     */
    streamAudio: z
      .object({
        firstChunkMs: z.number().int().min(40).max(2000).multipleOf(20).default(120),
        chunkMs: z.number().int().min(20).max(2000).multipleOf(20).default(80),
        /** Where mod_audio_stream writes its files, for cleanup checks only (FreeSWITCH deletes them on stop). */
        tempDir: z.string().default('/tmp'),
      })
      .strict()
      .refine((c) => c.chunkMs <= c.firstChunkMs - 20, {
        message: 'chunkMs must be at least 20 ms below firstChunkMs, or chunks after the first play with gaps',
        path: ['chunkMs'],
      })
      .default({}),
    /** unicast playback: UDP sockets. */
    unicast: z
      .object({
        /** Address of ours that FreeSWITCH sends to (remote-ip in its terms). */
        bindHost: z.string().default('127.0.0.1'),
        /** Address FreeSWITCH binds its side on (local-ip in its terms). */
        freeswitchHost: z.string().default('127.0.0.1'),
        /** Ports FreeSWITCH binds per call (must be free on the FreeSWITCH host). */
        freeswitchPortMin: z.number().int().min(1024).max(65535).default(41000),
        freeswitchPortMax: z.number().int().min(1024).max(65535).default(41999),
        /** false: L16 at the channel rate both ways (codec-independent). true: the channel's codec (PCMU/PCMA only). */
        native: z.boolean().default(false),
        /** No audio from FreeSWITCH this long after starting unicast: the call is ended as failed. */
        firstPacketTimeoutMs: z.number().int().min(200).max(30_000).default(3_000),
      })
      .strict()
      .refine((u) => u.freeswitchPortMax >= u.freeswitchPortMin, {
        message: 'freeswitchPortMax must be >= freeswitchPortMin',
        path: ['freeswitchPortMax'],
      })
      .default({}),
    /** Inbound playout buffer: frames held before the first push, and the most kept. */
    playoutFrames: z.number().int().min(1).max(10).default(2),
    playoutMaxFrames: z.number().int().min(2).max(50).default(10),
    /** Transfers: names refer to the top-level `transfers` map (extension + context); only those are allowed. */
    transferDialplan: z.string().default('XML'),
    defaultTransferContext: z.string().default('default'),
    /**
     * Where a call we do not take goes back to (daemon draining for a restart): the refusal variable
     * (AI_BRIDGE_REFUSED=draining) is set, the marker variable is set to false, then
     * `uuid_transfer <uuid> <extension> <transferDialplan> <context>`. The call is never killed.
     * The extension must exist and route the caller to a human (see freeswitch-conf/README.md).
     */
    handback: z
      .object({
        extension: z.string().regex(/^[A-Za-z0-9_.+*#@:-]{1,128}$/).default('ai_bridge_handback'),
        context: z.string().regex(/^[A-Za-z0-9_.+*#@:-]{1,128}$/).default('default'),
      })
      .strict()
      .default({}),
    /** Channel variables set before a transfer (values: summary / disposition). */
    summaryVariable: z.string().regex(/^[a-z0-9_]+$/i).default('ai_summary'),
    dispositionVariable: z.string().regex(/^[a-z0-9_]+$/i).default('ai_disposition'),
    maxCalls: z.number().int().min(1).max(10_000).default(100),
  })
  .strict()
  .superRefine((fs, ctx) => {
    if (fs.playback === 'stream-audio' && !fs.ws.secret) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['ws', 'secret'],
        message: "required when playback is 'stream-audio' (at least 16 URL-safe characters)",
      });
    }
  })
  .optional();

export type FreeswitchConfig = NonNullable<z.infer<typeof freeswitchSchema>>;
export type FreeswitchConfigInput = NonNullable<z.input<typeof freeswitchSchema>>;
