/** VICIdial Non-Agent / Agent API settings (issue #3). Absent section = no VICIdial updates. */
import { z } from 'zod';

export const vicidialSchema = z
  .object({
    /** Web root, e.g. http://10.0.0.5 — /vicidial/non_agent_api.php and /agc/api.php are appended. */
    url: z.string().url(),
    user: z.string().min(1),
    pass: z.string().min(1),
    source: z.string().min(1).max(20).default('aibridge'),
    /**
     * How calls reach the AI (vicidial/README.md): routing-extension (a), survey (b), remote-agent (c).
     * remote-agent ends and transfers calls through the Agent API's ra_call_control.
     */
    handoffMode: z.enum(['routing-extension', 'survey', 'remote-agent']).default('remote-agent'),
    /** Remote-agent user (mode c): agent_user of ra_call_control. */
    remoteAgentUser: z.string().min(1).optional(),
    /** Status written at call end when the agent set none. */
    defaultStatus: z.string().regex(/^[A-Z0-9]{1,6}$/).default('AIEND'),
    /** Disposition: update_lead (lead status) or update_log_entry (modes b/c, where a vicidial_log row exists). */
    dispositionVia: z.enum(['update_lead', 'update_log_entry']).default('update_lead'),
    /** Lead fields fetched at answer for the greeting/prompt (lead_all_info). */
    fetchLead: z.boolean().default(true),
    /** Durable queue of API calls not yet accepted by VICIdial (append-only JSONL, fsync). */
    queueDir: z.string().default('./.data/vicidial-queue'),
    retries: z
      .object({
        /** Immediate attempts per request before it waits in the queue. */
        attempts: z.number().int().min(1).max(10).default(3),
        baseMs: z.number().int().min(10).max(60_000).default(500),
        maxMs: z.number().int().min(100).max(3_600_000).default(60_000),
      })
      .strict()
      .default({}),
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
  })
  .strict()
  .optional();

export type VicidialConfig = NonNullable<z.infer<typeof vicidialSchema>>;
export type VicidialConfigInput = NonNullable<z.input<typeof vicidialSchema>>;
