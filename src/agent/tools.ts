/**
 * The tools a brain may call, their JSON schemas (for LLMs) and the validation every call goes
 * through before anything happens. A transfer names a target from config; anything else is refused,
 * so neither a model nor a caller talking to it can invent an extension.
 */
import { z } from 'zod';
import { BridgeError } from '../errors.ts';
import type { RawToolCall, ToolName, ToolSpec } from '../providers/types.ts';
import type { CallAction } from './call-port.ts';

const STATUS = /^[A-Z0-9]{1,6}$/;

const argSchemas = {
  hangup: z.object({ reason: z.string().max(200).default('conversation finished') }).strict(),
  transfer: z
    .object({
      target: z.string().min(1).max(64),
      summary: z.string().max(1000).default(''),
    })
    .strict(),
  set_disposition: z
    .object({ status: z.string().regex(STATUS, 'a VICIdial status: 1-6 upper-case letters or digits') })
    .strict(),
  schedule_callback: z
    .object({
      when: z
        .string()
        .regex(
          /^(NOW|\d{1,3}DAYS|\d{4}-\d{2}-\d{2}[ T+]\d{2}:\d{2}(:\d{2})?)$/,
          'YYYY-MM-DD HH:MM[:SS], NOW or <n>DAYS',
        ),
      comments: z.string().max(255).default(''),
    })
    .strict(),
  add_to_dnc: z.object({ reason: z.string().max(200).default('caller asked not to be called') }).strict(),
} satisfies Record<ToolName, z.ZodTypeAny>;

export const TOOL_NAMES = Object.keys(argSchemas) as ToolName[];

export function isToolName(name: string): name is ToolName {
  return Object.prototype.hasOwnProperty.call(argSchemas, name);
}

/** Tool specs for a model; the transfer target is an enum of the configured names only. */
export function toolSpecs(transferTargets: Readonly<Record<string, { description: string }>>): ToolSpec[] {
  const targets = Object.keys(transferTargets);
  const specs: ToolSpec[] = [
    {
      name: 'hangup',
      description: 'End the call politely after saying goodbye.',
      parameters: { type: 'object', properties: { reason: { type: 'string' } }, additionalProperties: false },
    },
    {
      name: 'set_disposition',
      description: 'Record the outcome of the call as a VICIdial status code (e.g. SALE, NI, CALLBK, DNC).',
      parameters: {
        type: 'object',
        properties: { status: { type: 'string', pattern: STATUS.source } },
        required: ['status'],
        additionalProperties: false,
      },
    },
    {
      name: 'schedule_callback',
      description: 'Book a callback when the caller asks to be called later.',
      parameters: {
        type: 'object',
        properties: {
          when: { type: 'string', description: 'YYYY-MM-DD HH:MM in the caller\'s time, or NOW, or <n>DAYS' },
          comments: { type: 'string' },
        },
        required: ['when'],
        additionalProperties: false,
      },
    },
    {
      name: 'add_to_dnc',
      description: 'The caller asked never to be called again: add the number to the do-not-call list.',
      parameters: { type: 'object', properties: { reason: { type: 'string' } }, additionalProperties: false },
    },
  ];
  if (targets.length > 0) {
    specs.splice(1, 0, {
      name: 'transfer',
      description:
        'Transfer the caller to a live agent. Only these targets exist: ' +
        targets.map((t) => `${t} (${transferTargets[t].description || 'no description'})`).join('; '),
      parameters: {
        type: 'object',
        properties: {
          target: { type: 'string', enum: targets },
          summary: { type: 'string', description: 'One or two sentences for the live agent.' },
        },
        required: ['target'],
        additionalProperties: false,
      },
    });
  }
  return specs;
}

/**
 * Validate a raw tool call into a CallAction. Throws BridgeError TOOL_INVALID_ARGS (bad JSON or
 * arguments) or TOOL_FORBIDDEN_TARGET (transfer target not in config).
 */
export function validateToolCall(
  call: Pick<RawToolCall, 'name' | 'arguments'>,
  transferTargets: Readonly<Record<string, unknown>>,
): CallAction {
  if (!isToolName(call.name)) {
    throw new BridgeError('TOOL_INVALID_ARGS', `unknown tool "${call.name}"`, { tool: call.name });
  }
  let parsedJson: unknown;
  try {
    parsedJson = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch (err) {
    throw new BridgeError('TOOL_INVALID_ARGS', `tool ${call.name}: arguments are not valid JSON`, { tool: call.name }, { cause: err });
  }
  const result = argSchemas[call.name].safeParse(parsedJson);
  if (!result.success) {
    const why = result.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ');
    throw new BridgeError('TOOL_INVALID_ARGS', `tool ${call.name}: ${why}`, { tool: call.name });
  }
  const args = result.data as Record<string, string>;
  switch (call.name) {
    case 'hangup':
      return { type: 'hangup', reason: args.reason };
    case 'transfer':
      if (!Object.prototype.hasOwnProperty.call(transferTargets, args.target)) {
        throw new BridgeError('TOOL_FORBIDDEN_TARGET', `transfer target "${args.target}" is not configured`, {
          tool: 'transfer',
          target: args.target,
          allowed: Object.keys(transferTargets),
        });
      }
      return { type: 'transfer', target: args.target, summary: args.summary };
    case 'set_disposition':
      return { type: 'set_disposition', status: args.status };
    case 'schedule_callback':
      return { type: 'schedule_callback', when: args.when, comments: args.comments };
    case 'add_to_dnc':
      return { type: 'add_to_dnc', reason: args.reason };
  }
}
