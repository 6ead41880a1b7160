/** Asterisk ARI adapter settings (issue #3). Absent section = adapter off. */
import { z } from 'zod';

/** Where a call goes back into the dialplan (over limit, errors). Empty = next priority after Stasis(). */
const dialplanTargetSchema = z
  .object({
    context: z.string().min(1).optional(),
    extension: z.string().min(1).optional(),
    priority: z.number().int().min(1).default(1),
  })
  .strict();

export const asteriskSchema = z
  .object({
    /** ARI base, e.g. http://127.0.0.1:8088 (the client appends /ari). */
    url: z.string().url(),
    username: z.string().min(1),
    password: z.string().min(1),
    app: z.string().min(1).default('ai-agent'),
    /** ExternalMedia `format`; the RTP payload type follows (ulaw 0, alaw 8). */
    format: z.enum(['ulaw', 'alaw']).default('ulaw'),
    /**
     * Address Asterisk sends our call's RTP to (`external_host` = externalHost:<call port>). Default: the
     * address the call's RTP socket is bound to (media.bindAddress); set it when binding 0.0.0.0.
     */
    externalHost: z.string().min(1).optional(),
    reconnect: z
      .object({
        initialMs: z.number().int().min(10).max(60_000).default(500),
        maxMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .strict()
      .default({}),
    /** Calls handled at once; above it the caller goes back to the dialplan (never silence). */
    maxCalls: z.number().int().min(1).max(10_000).default(50),
    overLimit: z
      .object({
        /** handback: continue in the dialplan at once; message: play `sound` first, then hand back. */
        action: z.enum(['handback', 'message']).default('handback'),
        /** e.g. sound:all-circuits-busy-now (Asterisk core sound). */
        sound: z.string().min(1).default('sound:all-circuits-busy-now'),
        target: dialplanTargetSchema.default({}),
      })
      .strict()
      .default({}),
    /** Set before any hand-back to the dialplan: OVER_LIMIT, ERROR, MAX_DURATION, TRANSFER. */
    statusVariable: z.string().min(1).default('AI_BRIDGE_STATUS'),
    /** Overrides agent.maxCallSeconds for ARI calls. */
    maxCallSeconds: z.number().int().min(10).max(7200).optional(),
    /** Channel variables read at answer into CallContext.fields (CAMPCUST = VICIdial campaign). */
    channelVariables: z.array(z.string().min(1)).default(['CAMPCUST']),
    transfer: z
      .object({
        /** Variables set on the caller channel before continueInDialplan. */
        summaryVariable: z.string().min(1).default('AI_SUMMARY'),
        dispositionVariable: z.string().min(1).default('AI_DISPOSITION'),
        /** Dialplan context for in-group targets (VICIdial servers.ext_context). */
        ingroupContext: z.string().min(1).default('default'),
        /** The `<user>` field of 90009*<INGROUP>**<lead>**<phone>**<user>**. */
        ingroupUser: z.string().default('VDAD'),
      })
      .strict()
      .default({}),
    /** REST call timeout; a stuck Asterisk must not hold a call's setup forever. */
    requestTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
  })
  .strict()
  .optional();

export type AsteriskConfig = NonNullable<z.infer<typeof asteriskSchema>>;
export type AsteriskConfigInput = NonNullable<z.input<typeof asteriskSchema>>;
