/**
 * A scripted campaign: states, what the agent says in each, the answers it expects grouped into
 * intents (their phrases also build the recognizer's grammar for that state), and what each intent
 * does. Loaded from YAML and validated like the config: a bad campaign fails at start, naming the key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BridgeError } from '../../errors.ts';

const STATUS = z.string().regex(/^[A-Z0-9]{1,6}$/, 'a VICIdial status: 1-6 upper-case letters or digits');

const outcomeSchema = z
  .object({
    /** Said first (lead fields as {{first_name}}). */
    say: z.string().optional(),
    /** Next state; omitted = stay. */
    next: z.string().optional(),
    disposition: STATUS.optional(),
    /** A `transfers` name from the daemon config. */
    transfer: z.string().optional(),
    callback: z.string().optional(),
    dnc: z.boolean().optional(),
    hangup: z.boolean().optional(),
  })
  .strict();

const intentSchema = outcomeSchema
  .extend({
    phrases: z.array(z.string().min(1)).min(1),
    /** DTMF digits that mean this intent. */
    dtmf: z.array(z.string().regex(/^[0-9*#]$/)).optional(),
  })
  .strict();

const stateSchema = z
  .object({
    say: z.string().min(1),
    /** The short question asked again after a no-match, a silence or an aside ("who is this?"); default: `say`. */
    reprompt: z.string().optional(),
    intents: z.record(intentSchema).default({}),
    /** Said when the answer was not understood (then the state's question again). */
    noMatch: z.string().optional(),
    /** Said on caller silence (then the question again). */
    silence: z.string().optional(),
  })
  .strict();

export const campaignSchema = z
  .object({
    name: z.string().min(1),
    /** Agent name and company used in prompts. */
    agentName: z.string().default('Alex'),
    company: z.string().default(''),
    start: z.string().min(1),
    /** Intents recognized in every state (do-not-call, who is this...). */
    globalIntents: z.record(intentSchema).default({}),
    states: z.record(stateSchema),
    defaults: z
      .object({
        noMatch: z.string().default("Sorry, I didn't catch that."),
        silence: z.string().default('Are you still there?'),
        /** After this many misunderstandings in a row: the noMatchOutcome. */
        maxNoMatch: z.number().int().min(1).max(10).default(2),
        noMatchOutcome: outcomeSchema.default({ say: "I'm sorry for the trouble. We'll try you another time. Goodbye.", disposition: 'NI', hangup: true }),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.states[c.start]) ctx.addIssue({ code: 'custom', path: ['start'], message: `state "${c.start}" is not defined` });
    const check = (o: { next?: string }, path: (string | number)[]) => {
      if (o.next && !c.states[o.next]) ctx.addIssue({ code: 'custom', path: [...path, 'next'], message: `state "${o.next}" is not defined` });
    };
    for (const [sn, st] of Object.entries(c.states)) for (const [iname, i] of Object.entries(st.intents)) check(i, ['states', sn, 'intents', iname]);
    for (const [iname, i] of Object.entries(c.globalIntents)) check(i, ['globalIntents', iname]);
  });

export type Campaign = z.infer<typeof campaignSchema>;
export type Intent = z.infer<typeof intentSchema>;
export type Outcome = z.infer<typeof outcomeSchema>;

export function parseCampaign(raw: unknown, source = 'campaign'): Campaign {
  const r = campaignSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new BridgeError('CAMPAIGN_INVALID', `invalid campaign ${source}:\n  ${lines.join('\n  ')}`, { source, issues: lines });
  }
  return r.data;
}

/** Relative campaign paths resolve against the working directory, then the install directory (shipped campaigns). */
export function resolveCampaignPath(file: string): string {
  if (isAbsolute(file) || existsSync(file)) return file;
  const shipped = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', file);
  return existsSync(shipped) ? shipped : file;
}

export function loadCampaign(path: string): Campaign {
  const file = resolveCampaignPath(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BridgeError('CONFIG_NOT_FOUND', `campaign file not readable: ${file}`, { file }, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new BridgeError('CAMPAIGN_INVALID', `campaign ${file} is not valid YAML: ${(err as Error).message}`, { file }, { cause: err });
  }
  return parseCampaign(raw, file);
}

/** Fill {{field}} from the lead; unknown fields become '' so a prompt never says "{{first_name}}". */
export function fillTemplate(text: string, fields: Readonly<Record<string, string>>): string {
  return text
    .replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/gi, (_, k: string) => fields[k] ?? fields[k.toLowerCase()] ?? '')
    .replace(/\s+([,.!?])/g, '$1')
    .replace(/\s{2,}/g, ' ')
    .trim();
}
