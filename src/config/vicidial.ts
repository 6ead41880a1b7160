/** VICIdial Non-Agent / Agent API settings (issue #3). Absent section = no VICIdial updates. */
import { z } from 'zod';

export const vicidialSchema = z
  .object({
    url: z.string().url(),
    user: z.string().min(1),
    pass: z.string().min(1),
    source: z.string().min(1).max(20).default('aibridge'),
  })
  .strict()
  .optional();
