/**
 * The embedded brain: runs a scripted campaign (states, intents, outcomes). No model, no network;
 * an LLM brain replaces it when one is configured. The recognizer is given each state's phrases as
 * its grammar, so what comes back is usually one of the phrases verbatim; anything else is matched
 * by whole-phrase containment, and what matches nothing is "not understood".
 */
import type { CallAction, CallContext } from '../call-port.ts';
import type { Expectations } from '../../providers/types.ts';
import { normalizeText as normalize } from '../normalize-text.ts';
import { validateToolCall } from '../tools.ts';
import type { Brain, BrainInput, BrainOutput } from './types.ts';
import { fillTemplate, type Campaign, type Intent, type Outcome } from './campaign.ts';

export class ScriptBrain implements Brain {
  readonly name: string;
  private state: string;
  private noMatchCount = 0;
  private lastPromptHeard = true;

  constructor(
    private readonly campaign: Campaign,
    private readonly context: CallContext,
    private readonly transfers: Readonly<Record<string, unknown>>,
  ) {
    this.name = `script:${campaign.name}`;
    this.state = campaign.start;
  }

  get currentState(): string {
    return this.state;
  }

  expectations(): Expectations {
    const phrases = new Set<string>();
    for (const i of Object.values(this.intents())) for (const p of i.phrases) phrases.add(normalize(p));
    return { phrases: [...phrases] };
  }

  async *respond(input: BrainInput, signal: AbortSignal): AsyncGenerator<BrainOutput> {
    if (signal.aborted) return;
    const st = this.campaign.states[this.state];
    switch (input.kind) {
      case 'greeting':
        yield this.text(st.say);
        return;
      case 'silence':
        yield this.text(`${st.silence ?? this.campaign.defaults.silence} ${st.reprompt ?? st.say}`);
        return;
      case 'no-match':
        yield* this.noMatch();
        return;
      case 'dtmf': {
        const hit = Object.entries(this.intents()).find(([, i]) => i.dtmf?.includes(input.digit));
        if (!hit) {
          yield* this.noMatch();
          return;
        }
        yield* this.apply(hit[1]);
        return;
      }
      case 'utterance': {
        const intent = this.match(input.text);
        if (!intent) {
          yield* this.noMatch();
          return;
        }
        yield* this.apply(intent);
        return;
      }
    }
  }

  replyHeard(heard: string, intended: string, interrupted: boolean): void {
    // A question cut off before its end was not really asked: the next no-match repeats it whole.
    this.lastPromptHeard = !interrupted || heard.length >= intended.length * 0.8;
  }

  /** The intent an utterance means: exact phrase first, then the longest phrase it contains. */
  match(text: string): Intent | null {
    const said = normalize(text);
    if (!said) return null;
    const intents = Object.values(this.intents());
    for (const i of intents) if (i.phrases.some((p) => normalize(p) === said)) return i;
    let best: Intent | null = null;
    let bestLen = 0;
    const padded = ` ${said} `;
    for (const i of intents) {
      for (const p of i.phrases) {
        const np = normalize(p);
        if (np.length > bestLen && padded.includes(` ${np} `)) {
          best = i;
          bestLen = np.length;
        }
      }
    }
    return best;
  }

  private intents(): Record<string, Intent> {
    return { ...this.campaign.globalIntents, ...this.campaign.states[this.state].intents };
  }

  private *noMatch(): Generator<BrainOutput> {
    this.noMatchCount++;
    if (this.noMatchCount > this.campaign.defaults.maxNoMatch) {
      yield* this.apply(this.campaign.defaults.noMatchOutcome);
      return;
    }
    const st = this.campaign.states[this.state];
    yield this.text(`${st.noMatch ?? this.campaign.defaults.noMatch} ${st.reprompt ?? st.say}`);
  }

  private *apply(o: Outcome): Generator<BrainOutput> {
    this.noMatchCount = 0;
    const terminal = o.hangup || o.transfer !== undefined;
    let text = o.say ?? '';
    if (!terminal) {
      // Move: the new state's full prompt. Stay (an aside like "who is this?"): just its question again.
      if (o.next) {
        this.state = o.next;
        text = `${text} ${this.campaign.states[this.state].say}`;
      } else if (o.say) {
        const st = this.campaign.states[this.state];
        text = `${text} ${st.reprompt ?? st.say}`;
      }
    }
    if (text.trim()) yield this.text(text);
    if (o.disposition) yield this.action({ name: 'set_disposition', arguments: JSON.stringify({ status: o.disposition }) });
    if (o.callback) yield this.action({ name: 'schedule_callback', arguments: JSON.stringify({ when: o.callback, comments: `scripted: ${this.campaign.name}` }) });
    if (o.dnc) yield this.action({ name: 'add_to_dnc', arguments: JSON.stringify({ reason: 'caller asked not to be called' }) });
    if (o.transfer) {
      const summary = `Lead ${this.context.leadId ?? 'unknown'} qualified by the AI (${this.campaign.name}).`;
      try {
        yield this.action({ name: 'transfer', arguments: JSON.stringify({ target: o.transfer, summary }) });
      } catch {
        // The campaign names a target the config lacks: never strand the caller on a dead transfer.
        yield this.action({ name: 'hangup', arguments: JSON.stringify({ reason: `transfer target ${o.transfer} not configured` }) });
      }
    } else if (o.hangup) {
      yield this.action({ name: 'hangup', arguments: JSON.stringify({ reason: 'script finished' }) });
    }
  }

  private text(t: string): BrainOutput {
    return { type: 'text', text: fillTemplate(t, this.context.fields) };
  }

  private action(call: { name: string; arguments: string }): BrainOutput {
    const action: CallAction = validateToolCall(call, this.transfers);
    return { type: 'action', action };
  }
}
