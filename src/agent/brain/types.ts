/**
 * The brain decides what the agent says and does. Two implementations: the scripted campaign engine
 * (embedded default, no model) and the LLM brain over a LanguageModel provider. The Call drives it
 * turn by turn and tells it afterwards what the caller actually heard.
 */
import type { CallAction, CallContext } from '../call-port.ts';
import type { Expectations } from '../../providers/types.ts';

export type BrainInput =
  | { readonly kind: 'greeting' }
  | { readonly kind: 'utterance'; readonly text: string; readonly confidence?: number }
  /** Speech was heard but not understood (recognizer returned no trusted text). */
  | { readonly kind: 'no-match' }
  /** The caller said nothing for the configured time; `count` = reprompts so far in a row (1-based). */
  | { readonly kind: 'silence'; readonly count: number }
  | { readonly kind: 'dtmf'; readonly digit: string };

export type BrainOutput =
  /** Text to speak; may arrive token by token: the Call cuts it into speakable chunks. */
  | { readonly type: 'text'; readonly text: string }
  /** A validated action. Terminal actions (hangup, transfer) are carried out after the spoken text so far has played. */
  | { readonly type: 'action'; readonly action: CallAction };

export interface Brain {
  readonly name: string;
  /** What the caller is expected to say next (recognizer grammar / keywords). */
  expectations(): Expectations;
  /** One turn. Abort `signal` on barge-in or call end; the iterator must stop promptly. */
  respond(input: BrainInput, signal: AbortSignal): AsyncIterable<BrainOutput>;
  /**
   * After a turn's audio finished or was cut: `heard` is the text the caller actually heard
   * (by played-audio duration). The brain keeps only that in its memory.
   */
  replyHeard(heard: string, intended: string, interrupted: boolean): void;
}

export interface BrainFactory {
  create(context: CallContext): Brain;
}
