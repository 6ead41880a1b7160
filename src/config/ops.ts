/** Operations: metrics endpoint, call records, retention, the call index, shutdown (issue #6). */
import { z } from 'zod';

export const metricsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Loopback by default: the endpoint has no auth, so exposing it is a deliberate choice. */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(9464),
    /** Also export Node process metrics (heap, event-loop lag, fds). */
    processMetrics: z.boolean().default(true),
  })
  .strict()
  .default({});

export const recordsSchema = z
  .object({
    /** `<dir>/YYYY-MM-DD/<callId>.json|.wav|.events.jsonl`. */
    dir: z.string().default('./.data/records'),
    recordAudio: z.boolean().default(true),
    /** Campaign ids whose calls are never recorded (consent laws); the JSON record is still kept. */
    noAudioCampaigns: z.array(z.string().min(1)).default([]),
    /** Records (JSON + WAV) older than this are deleted once a day; 0 = keep forever. */
    retentionDays: z.number().int().min(0).max(3650).default(90),
    /** Mask the caller's number inside the stored records too (logs are governed by log.redactPhoneNumbers). */
    redactPhoneNumbers: z.boolean().default(false),
    /** Audio is appended in chunks of this length: what a killed process can lose at most. */
    flushMs: z.number().int().min(20).max(10000).default(1000),
    index: z
      .object({
        /** `files`: the records folder is the index. `postgres`: also a `calls` table (record as jsonb). */
        type: z.enum(['files', 'postgres']).default('files'),
        /** postgres://user:pass@host:5432/db (or AI_BRIDGE__RECORDS__INDEX__POSTGRES_URL). */
        postgresUrl: z.string().optional(),
        table: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/, 'a plain lower-case SQL identifier')
          .default('calls'),
      })
      .strict()
      .refine((i) => i.type !== 'postgres' || !!i.postgresUrl, {
        message: 'index.type postgres needs index.postgresUrl',
        path: ['postgresUrl'],
      })
      .default({}),
  })
  .strict()
  .default({});

/**
 * Process-level settings. Not yet part of configSchema: the lead adds `ops: opsSchema` there; until
 * then callers pass `opsSchema.parse({})` (all defaults).
 */
export const opsSchema = z
  .object({
    /** SIGTERM: active calls may finish for this long, then they are ended with reason 'shutdown'. */
    drainSeconds: z.number().int().min(0).max(3600).default(30),
    /** /readyz turns 503 at this many active calls; also sizes LimitNOFILE in the unit file. */
    maxCalls: z.number().int().min(1).max(10000).default(100),
    /**
     * Overload admission (src/ops/overload.ts): while the media loop falls behind, new calls are
     * handed back to the dialplan (AI_BRIDGE_REFUSED=overloaded) so the running ones keep their
     * audio. A window is bad when the media ticker skipped a tick, the event loop's delay p99 was
     * above eventLoopP99Ms, or the main thread used more than cpuPct of a core (Linux);
     * enterWindows bad ones in a row start refusing, exitWindows good ones in a row stop it.
     */
    overload: z
      .object({
        enabled: z.boolean().default(true),
        eventLoopP99Ms: z.number().min(5).max(1000).default(40),
        // 70: on batched RTP I/O, the ramps that admitted past it lost frames (bench/RESULTS.md)
        cpuPct: z.number().min(10).max(100).default(70),
        windowMs: z.number().int().min(200).max(60000).default(1000),
        enterWindows: z.number().int().min(1).max(60).default(2),
        exitWindows: z.number().int().min(1).max(600).default(5),
      })
      .strict()
      .default({}),
    doctor: z
      .object({
        /** Asterisk's RTP range, read to make sure ours does not overlap it. */
        rtpConfPath: z.string().default('/etc/asterisk/rtp.conf'),
        /** Free space needed under records.dir. */
        minFreeDiskMb: z.number().int().min(0).default(1024),
        /** Per-request timeout of each network check. */
        timeoutMs: z.number().int().min(100).max(60000).default(5000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export type MetricsConfig = z.infer<typeof metricsSchema>;
export type RecordsConfig = z.infer<typeof recordsSchema>;
export type OpsConfig = z.infer<typeof opsSchema>;
