import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { callLogger, createLogger, maskPhone, maskPhonesInText } from '../../src/observability/log.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) {
        raw.push(l);
        lines.push(JSON.parse(l));
      }
      cb();
    },
  });
  return { lines, raw, destination };
}

describe('createLogger', () => {
  it('censors secrets at any of three levels and masks phone numbers', () => {
    const c = capture();
    const log = createLogger({ level: 'info', redactPhoneNumbers: true }, { destination: c.destination });
    log.info(
      { password: 'hunter2-secret', asterisk: { password: 'ari-pass-xyz', username: 'ai' }, req: { headers: { authorization: 'Basic abcdef' } }, callerNumber: '+15551234567', apiKey: 'sk-live-123' },
      'call from 5551234567 to lead 12345',
    );
    const text = c.raw.join('\n');
    for (const secret of ['hunter2-secret', 'ari-pass-xyz', 'Basic abcdef', 'sk-live-123', '5551234567', '15551234567']) {
      expect(text).not.toContain(secret);
    }
    const line = c.lines[0];
    expect(line.password).toBe('[redacted]');
    expect((line.asterisk as Record<string, unknown>).username).toBe('ai');
    expect(line.callerNumber).toBe('+1555*****67');
    expect(line.msg).toContain('lead 12345');
    expect(line.msg).toMatch(/call from 5551\*+67/);
  });

  it('keeps phone numbers when redaction is configured off, still censors secrets', () => {
    const c = capture();
    const log = createLogger({ level: 'info', redactPhoneNumbers: false }, { destination: c.destination });
    log.info({ callerNumber: '5551234567', token: 't0ken-value' }, 'from 5551234567');
    expect(c.lines[0].callerNumber).toBe('5551234567');
    expect(c.lines[0].msg).toBe('from 5551234567');
    expect(c.raw[0]).not.toContain('t0ken-value');
  });

  it('callLogger binds the call id on every line', () => {
    const c = capture();
    const log = callLogger(createLogger({ level: 'debug', redactPhoneNumbers: true }, { destination: c.destination }), 'call-42');
    log.info('one');
    log.debug({ x: 1 }, 'two');
    expect(c.lines.map((l) => l.callId)).toEqual(['call-42', 'call-42']);
  });
});

describe('phone masking', () => {
  it('keeps head and tail only on long numbers, leaves short ids alone', () => {
    expect(maskPhone('5551234567')).toBe('5551****67');
    expect(maskPhone('1234567')).toBe('*****67');
    expect(maskPhonesInText('port 40000, lead 123456, V1241705010000012345')).toBe('port 40000, lead 123456, V1241705010000012345');
    expect(maskPhonesInText('dial +442071234567 now')).toBe('dial +4420******67 now');
  });
});
