/** Operations: metrics endpoint, call records, retention (issue #6). */
import { z } from 'zod';

export const metricsSchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(9464),
  })
  .strict()
  .default({});

export const recordsSchema = z
  .object({
    dir: z.string().default('./.data/records'),
    recordAudio: z.boolean().default(true),
  })
  .strict()
  .default({});
