import { describe, expect, it } from 'vitest';
import { heardPrefix, SentenceChunker } from '../../src/agent/sentence-chunker.ts';

describe('SentenceChunker', () => {
  it('emits each sentence as soon as it is complete while tokens stream', () => {
    const c = new SentenceChunker();
    const out: string[] = [];
    for (const tok of ['Hello', ' there', '.', ' How', ' are', ' you', '?', ' Fine', '.']) out.push(...c.push(tok));
    // "Fine." could still be "Fine.5": it waits for what follows or for flush
    expect(out).toEqual(['Hello there.', 'How are you?']);
    expect(c.flush()).toEqual(['Fine.']);
  });

  it('does not cut at abbreviations or decimals', () => {
    const c = new SentenceChunker({ firstClauseMin: 1000 });
    expect(c.push('Dr. Smith paid 3.5 dollars. ')).toEqual(['Dr. Smith paid 3.5 dollars.']);
  });

  it('cuts a long first sentence at a clause so audio starts sooner', () => {
    const c = new SentenceChunker({ firstClauseMin: 20 });
    const out = c.push('Thanks for taking my call today, I wanted to ask you about your electric bill');
    expect(out).toEqual(['Thanks for taking my call today,']);
    expect(c.flush()).toEqual(['I wanted to ask you about your electric bill']);
  });
});

describe('heardPrefix', () => {
  it('cuts at a word boundary by played fraction', () => {
    expect(heardPrefix('one two three four', 0.5)).toBe('one two');
    expect(heardPrefix('one two three four', 0)).toBe('');
    expect(heardPrefix('one two three four', 1)).toBe('one two three four');
  });
});
