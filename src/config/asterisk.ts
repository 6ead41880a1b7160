/** Asterisk ARI adapter settings (issue #3). Absent section = adapter off. */
import { z } from 'zod';

export const asteriskSchema = z
  .object({
    url: z.string().url(),
    username: z.string().min(1),
    password: z.string().min(1),
    app: z.string().min(1).default('ai-agent'),
  })
  .strict()
  .optional();
