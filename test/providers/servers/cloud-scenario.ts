/**
 * The simulator's cloud scenario (`ai-bridge simulate --cloud-local`): Deepgram -> OpenAI -> ElevenLabs
 * (fallbacks Whisper, Cartesia) against the local servers that speak each vendor's wire protocol,
 * with realistic delays; the model's replies are scripted for the caller's lines in order.
 */
import type { CallerStep } from '../../../src/sim/caller-script.ts';
import { startProviderServers, type ProviderServers } from './index.ts';

export const CLOUD_GREETING = 'Hi {{first_name}}, this is Alex from Sunrise Home Solar. Do you have a minute?';
export const CLOUD_SCRIPT: readonly CallerStep[] = [
  { kind: 'answer', text: 'who is this' },
  { kind: 'barge-in', text: 'sure go ahead', afterMs: 1500 },
  { kind: 'answer', text: 'yes please' },
];

/** The local protocol servers, with the model's replies for CLOUD_SCRIPT scripted in order. */
export async function startLocalCloud(): Promise<ProviderServers> {
  const servers = await startProviderServers({ utterances: CLOUD_SCRIPT.flatMap((s) => (s.kind === 'dtmf' ? [] : [s.text])) });
  servers.openai.chat.push(
    { kind: 'reply', steps: [{ text: 'This is Alex with Sunrise Home Solar. ' }, { text: 'We help homeowners in your area lower their electric bill with solar panels, ' }, { text: 'at no cost to find out. Do you have a quick minute?' }] },
    { kind: 'reply', steps: [{ text: 'Great. ' }, { text: 'Are you the homeowner at this address?' }] },
    { kind: 'reply', steps: [{ text: 'Perfect, please hold while I connect you.' }, { tool: { name: 'transfer', args: JSON.stringify({ target: 'specialists', summary: 'Homeowner, interested.' }) } }] },
  );
  return servers;
}

