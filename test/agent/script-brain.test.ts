import { describe, expect, it } from 'vitest';
import { loadCampaign, parseCampaign, fillTemplate } from '../../src/agent/brain/campaign.ts';
import { ScriptBrain } from '../../src/agent/brain/script-brain.ts';
import type { BrainInput, BrainOutput } from '../../src/agent/brain/types.ts';
import { isBridgeError } from '../../src/errors.ts';

const campaign = loadCampaign('campaigns/solar-qualification.yaml');
const transfers = { specialists: { description: 'live' } };

async function turn(b: ScriptBrain, input: BrainInput) {
  const out: BrainOutput[] = [];
  for await (const o of b.respond(input, new AbortController().signal)) out.push(o);
  return {
    text: out.filter((o) => o.type === 'text').map((o) => (o as { text: string }).text).join(' '),
    actions: out.filter((o) => o.type === 'action').map((o) => (o as { action: unknown }).action),
  };
}

function brain() {
  return new ScriptBrain(campaign, { pbx: 'sim', leadId: 7, fields: { first_name: 'Maria' } }, transfers);
}

describe('ScriptBrain on the shipped campaign', () => {
  it('greets with lead fields filled in and exposes the state grammar', async () => {
    const b = brain();
    const g = await turn(b, { kind: 'greeting' });
    expect(g.text).toMatch(/^Hi Maria, this is Alex/);
    const phrases = b.expectations().phrases;
    expect(phrases).toContain('sure go ahead');
    expect(phrases).toContain('take me off your list'); // global intents everywhere
  });

  it('walks to a transfer: yes -> homeowner by DTMF -> bill -> offer -> transfer', async () => {
    const b = brain();
    await turn(b, { kind: 'greeting' });
    expect((await turn(b, { kind: 'utterance', text: 'sure go ahead' })).text).toMatch(/homeowner/);
    expect((await turn(b, { kind: 'dtmf', digit: '1' })).text).toMatch(/electric bill/);
    expect((await turn(b, { kind: 'utterance', text: 'yes it is' })).text).toMatch(/specialists/);
    const last = await turn(b, { kind: 'utterance', text: 'yes please' });
    expect(last.text).toMatch(/connect you/);
    expect(last.actions).toEqual([
      { type: 'set_disposition', status: 'XFER' },
      { type: 'transfer', target: 'specialists', summary: expect.stringContaining('Lead 7') },
    ]);
  });

  it('honours a do-not-call request in any state', async () => {
    const b = brain();
    await turn(b, { kind: 'greeting' });
    await turn(b, { kind: 'utterance', text: 'yes' });
    const r = await turn(b, { kind: 'utterance', text: 'please take me off your list now' });
    expect(r.actions).toEqual([
      { type: 'set_disposition', status: 'DNC' },
      { type: 'add_to_dnc', reason: expect.any(String) },
      { type: 'hangup', reason: 'script finished' },
    ]);
  });

  it('repeats the question on no-match and gives up after maxNoMatch', async () => {
    const b = brain();
    await turn(b, { kind: 'greeting' });
    expect((await turn(b, { kind: 'no-match' })).text).toMatch(/didn't catch that.*quick minute/);
    await turn(b, { kind: 'utterance', text: 'purple elephants' });
    const r = await turn(b, { kind: 'no-match' });
    expect(r.actions.at(-1)).toMatchObject({ type: 'hangup' });
  });

  it('books a callback', async () => {
    const b = brain();
    await turn(b, { kind: 'greeting' });
    const r = await turn(b, { kind: 'utterance', text: 'call me back tomorrow' });
    expect(r.actions).toContainEqual({ type: 'schedule_callback', when: '1DAYS', comments: expect.any(String) });
  });

  it('hangs up instead of transferring to a target the config lacks', async () => {
    const b = new ScriptBrain(campaign, { pbx: 'sim', fields: {} }, {});
    await turn(b, { kind: 'greeting' });
    await turn(b, { kind: 'utterance', text: 'yes' });
    await turn(b, { kind: 'dtmf', digit: '1' });
    await turn(b, { kind: 'utterance', text: 'yes' });
    const r = await turn(b, { kind: 'utterance', text: 'yes' });
    expect(r.actions.at(-1)).toMatchObject({ type: 'hangup', reason: expect.stringContaining('not configured') });
  });
});

describe('campaign validation', () => {
  it('names the broken key', () => {
    try {
      parseCampaign({ name: 'x', start: 'a', states: { a: { say: 'hi', intents: { y: { phrases: ['yes'], next: 'nowhere' } } } } });
      expect.unreachable();
    } catch (err) {
      expect(isBridgeError(err, 'CAMPAIGN_INVALID')).toBe(true);
      expect((err as Error).message).toContain('states.a.intents.y.next');
    }
  });

  it('never leaves a placeholder in spoken text', () => {
    expect(fillTemplate('Hi {{first_name}}, welcome', {})).toBe('Hi, welcome');
  });
});
