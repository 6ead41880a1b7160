import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, validateConfig } from '../../src/config/load.ts';
import { isBridgeError } from '../../src/errors.ts';

describe('config', () => {
  it('has working defaults (embedded providers, no PBX)', () => {
    const c = validateConfig({});
    expect(c.providers.stt[0].type).toBe('embedded');
    expect(c.media.jitterBufferMs).toBe(40);
    expect(Object.isFrozen(c.media)).toBe(true);
  });

  it('rejects an invalid value naming the key, the value and the expectation', () => {
    try {
      validateConfig({ agent: { bargeIn: { confirmMs: 5 } } });
      expect.unreachable();
    } catch (err) {
      expect(isBridgeError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/agent\.bargeIn\.confirmMs = 5: .*greater than or equal to 20/);
    }
  });

  it('rejects out-of-range media tick lead and transfer confirmation times, naming the key and value', () => {
    expect(() => validateConfig({ media: { tickLeadMs: 50 } })).toThrow(/media\.tickLeadMs = 50: .*less than or equal to 8/);
    expect(() => validateConfig({ media: { tickLeadMs: -1 } })).toThrow(/media\.tickLeadMs = -1/);
    expect(() => validateConfig({ agent: { transferConfirmMs: 10 } })).toThrow(/agent\.transferConfirmMs = 10: .*greater than or equal to 1000/);
    expect(() => validateConfig({ agent: { transferConfirmMs: 'soon' } })).toThrow(/agent\.transferConfirmMs/);
    expect(() => validateConfig({ media: { tickSlots: 0 } })).toThrow(/media\.tickSlots = 0: .*greater than or equal to 1/);
    expect(() => validateConfig({ media: { tickSlots: 2.5 } })).toThrow(/media\.tickSlots = 2\.5/);
    expect(validateConfig({}).media.tickSlots).toBe(4);
    const ok = validateConfig({ media: { tickLeadMs: 0, tickSlots: 1 }, agent: { transferConfirmMs: 30_000 } });
    expect(ok.media.tickLeadMs).toBe(0);
    expect(ok.media.tickSlots).toBe(1);
    expect(ok.agent.transferConfirmMs).toBe(30_000);
  });

  it('media.rtpIo: auto by default, one of auto/native/dgram, an unknown mode named', () => {
    expect(validateConfig({}).media.rtpIo).toBe('auto');
    expect(validateConfig({ media: { rtpIo: 'dgram' } }).media.rtpIo).toBe('dgram');
    expect(() => validateConfig({ media: { rtpIo: 'uring' } })).toThrow(/media\.rtpIo = "?uring"?: .*'auto' \| 'native' \| 'dgram'/);
  });

  it('rejects unknown keys and an inverted port range', () => {
    expect(() => validateConfig({ media: { rtpPortMin: 5000, rtpPortMax: 4000 } })).toThrow(/media\.rtpPortMax/);
    expect(() => validateConfig({ agnet: {} })).toThrow(/agnet/);
  });

  it('never prints a secret value in a validation error', () => {
    try {
      validateConfig({ asterisk: { url: 'not a url', username: 'u', password: 12345 } });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('asterisk.password = <redacted>');
      expect((err as Error).message).not.toContain('12345');
    }
  });

  it('reads YAML and applies environment overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'media:\n  jitterBufferMs: 80\n');
    const c = loadConfig({ file, env: { AI_BRIDGE__MEDIA__JITTER_BUFFER_MS: '100', AI_BRIDGE__AGENT__BARGE_IN__CONFIRM_MS: '150' } });
    expect(c.media.jitterBufferMs).toBe(100);
    expect(c.agent.bargeIn.confirmMs).toBe(150);
  });

  it('reports a missing file and broken YAML clearly', () => {
    expect(() => loadConfig({ file: '/nonexistent/x.yaml' })).toThrow(/config file not found/);
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'media: [unclosed\n');
    expect(() => loadConfig({ file })).toThrow(/not valid YAML/);
  });
});
