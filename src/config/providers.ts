/**
 * Provider chains per role: the first entry is used, the next ones are fallbacks in order.
 * Each vendor adds its own entry type here (issue #4); `embedded` needs no key and no network.
 */
import { z } from 'zod';

const embeddedStt = z.object({ type: z.literal('embedded') }).strict();
const embeddedLlm = z.object({ type: z.literal('embedded') }).strict();
const embeddedTts = z
  .object({
    type: z.literal('embedded'),
    /** flite voice: kal is natively 8 kHz; kal16/rms are clearer and downsampled 2:1. */
    voice: z.enum(['kal', 'kal16', 'rms', 'slt', 'awb']).default('kal16'),
  })
  .strict();

export const sttEntry = z.discriminatedUnion('type', [embeddedStt]);
export const llmEntry = z.discriminatedUnion('type', [embeddedLlm]);
export const ttsEntry = z.discriminatedUnion('type', [embeddedTts]);

export const providersSchema = z
  .object({
    stt: z.array(sttEntry).min(1).default([{ type: 'embedded' }]),
    llm: z.array(llmEntry).min(1).default([{ type: 'embedded' }]),
    tts: z.array(ttsEntry).min(1).default([{ type: 'embedded', voice: 'kal16' }]),
  })
  .strict()
  .default({});

export type SttEntry = z.infer<typeof sttEntry>;
export type LlmEntry = z.infer<typeof llmEntry>;
export type TtsEntry = z.infer<typeof ttsEntry>;
