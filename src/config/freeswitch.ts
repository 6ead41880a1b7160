/** FreeSWITCH ESL + mod_audio_stream adapter settings (issue #7). Absent section = adapter off. */
import { z } from 'zod';

export const freeswitchSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(8021),
    password: z.string().min(1),
  })
  .strict()
  .optional();
