import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CallSession, EndReason } from '../../src/agent/call-port.ts';
import type { CallRecord } from '../../src/agent/call-record.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/media/clock.ts';
import { CallDrainer, DRAIN_VARIABLE, installShutdown } from '../../src/ops/drain.ts';
import { diffConfig, reloadConfig } from '../../src/ops/reload.ts';
import { CallRecorder } from '../../src/records/call-recorder.ts';
import { initialRecord } from '../../src/records/events.ts';

/** A simulated call implementing the CallSession port: ends when told, emits its record once. */
class SimCall extends EventEmitter implements CallSession {
  ended = false;
  constructor(readonly id: string) {
    super();
  }
  async start() {}
  pushInbound() {}
  pullOutbound() {
    return null;
  }
  dtmf() {}
  end(reason: EndReason) {
    if (this.ended) return;
    this.ended = true;
    const r: CallRecord = { ...initialRecord({ callId: this.id, pbx: 'sim', startedAt: new Date().toISOString(), providers: { stt: 'e', llm: 'e', tts: 'e' } }), endReason: reason, endedAt: new Date().toISOString() };
    queueMicrotask(() => this.emit('ended', r));
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('CallDrainer', () => {
  it('refuses new calls, lets active calls finish, ends the rest with shutdown, and flushes every record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drain-'));
    try {
      const clock = new ManualClock();
      const drainer = new CallDrainer(clock);
      expect(drainer.admit()).toEqual({ ok: true });
      const calls = [new SimCall('c1'), new SimCall('c2'), new SimCall('c3')];
      for (const c of calls) {
        drainer.track(c);
        const rec = new CallRecorder({ dir, start: initialRecord({ callId: c.id, pbx: 'sim', startedAt: new Date().toISOString(), providers: { stt: 'e', llm: 'e', tts: 'e' } }), recordAudio: true, flushMs: 20 });
        rec.tick(new Int16Array(160).fill(1), null);
        c.on('ended', (r) => void drainer.trackWrite(rec.finish(r)));
      }
      const exits: number[] = [];
      const proc = new EventEmitter();
      installShutdown({ drainer, drainSeconds: 10, proc: proc as unknown as NodeJS.Process, exit: (c) => exits.push(c) });
      proc.emit('SIGTERM');
      await tick();
      expect(drainer.draining).toBe(true);
      const refused = drainer.admit();
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.variable).toBe(DRAIN_VARIABLE);

      calls[0].end('caller-hangup'); // finishes on its own within the window
      await tick();
      clock.advance(9_000);
      await tick();
      expect(calls[1].ended).toBe(false); // still inside drainSeconds
      clock.advance(1_000); // window over: the rest are ended with 'shutdown'
      // record files are real I/O: poll (bounded) until the shutdown path exits
      for (let i = 0; i < 300 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(exits).toEqual([0]);
      expect(calls.every((c) => c.ended)).toBe(true);
      const files = (await readdir(join(dir, (await readdir(dir))[0]))).sort();
      expect(files).toEqual(['c1.json', 'c1.wav', 'c2.json', 'c2.wav', 'c3.json', 'c3.wav']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with no active calls drains at once', async () => {
    const d = new CallDrainer(new ManualClock());
    const s = await d.drain({ drainSeconds: 30 });
    expect(s).toEqual({ finishedDuringDrain: 0, endedByShutdown: 0, stuck: 0, writes: { awaited: 0, failed: 0, timedOut: 0 } });
  });
});

describe('SIGHUP reload', () => {
  const base = { asterisk: { url: 'http://127.0.0.1:8088', username: 'u', password: 'old-pass' }, agent: { systemPrompt: 'v1' } };

  it('says which changed keys were applied and which need a restart, without values', async () => {
    const oldCfg = validateConfig(base);
    const newCfg = validateConfig({
      ...base,
      asterisk: { ...base.asterisk, password: 'new-pass' },
      agent: { systemPrompt: 'v2', campaign: 'campaigns/other.yaml' },
      transfers: { sales: { ingroup: 'SALES' } },
      media: { rtpPortMin: 41000, rtpPortMax: 41999 },
    });
    const d = diffConfig(oldCfg, newCfg);
    expect(d.applied).toEqual(['agent.campaign', 'agent.systemPrompt']);
    // the PBX adapters hold their transfer targets from start-up
    expect(d.needsRestart).toEqual(['asterisk.password', 'media.rtpPortMax', 'media.rtpPortMin', 'transfers.sales.description', 'transfers.sales.ingroup', 'transfers.sales.priority']);
    expect(JSON.stringify(d)).not.toContain('new-pass');
  });

  it('keeps the running config when the new one is invalid', async () => {
    let current = validateConfig(base);
    const bad = await reloadConfig({ load: () => validateConfig({ agent: { endOfTurnMs: -1 } }), current: () => current, apply: (n) => void (current = n) });
    expect(bad.ok).toBe(false);
    expect(current.agent.systemPrompt).toBe('v1');
    const good = await reloadConfig({ load: () => validateConfig({ ...base, agent: { systemPrompt: 'v3' } }), current: () => current, apply: (n) => void (current = n) });
    expect(good.ok && good.diff.applied).toEqual(['agent.systemPrompt']);
    expect(current.agent.systemPrompt).toBe('v3');
  });
});
