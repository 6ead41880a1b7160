/**
 * What the simulated caller does, step by step. Each step waits for something it can hear (the
 * agent finished talking, or has been talking for a while) and then speaks, or presses a key.
 * The default script walks the shipped solar campaign to a transfer, with one barge-in and one DTMF.
 */
export type CallerStep =
  /** Wait until the agent spoke and then went quiet for `quietMs`, then say `text`. */
  | { readonly kind: 'answer'; readonly text: string; readonly quietMs?: number }
  /** Wait until the agent has been talking for `afterMs` (in its next reply), then say `text` over it. */
  | { readonly kind: 'barge-in'; readonly text: string; readonly afterMs: number }
  /** Wait until the agent finished, then press `digit` (RFC 4733). */
  | { readonly kind: 'dtmf'; readonly digit: string; readonly quietMs?: number };

export const DEFAULT_CALLER_SCRIPT: readonly CallerStep[] = [
  { kind: 'answer', text: 'who is this' },
  { kind: 'barge-in', text: 'sure go ahead', afterMs: 1800 },
  { kind: 'dtmf', digit: '1' },
  { kind: 'answer', text: 'yes it is' },
  { kind: 'answer', text: 'yes please' },
];
