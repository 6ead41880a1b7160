/**
 * RFC 4733 telephone-event payloads (DTMF over RTP).
 *
 * Receive: a sender repeats every event packet (same RTP timestamp, growing duration) and sends
 * the end packet three times; DtmfReceiver turns that into one digit per event, keyed by the RTP
 * timestamp, reported on the first packet seen so a lost end packet never swallows a digit.
 * Send: buildTelephoneEvents produces the payload sequence the pacer sends, one per 20 ms tick.
 */
import { BridgeError } from '../errors.ts';
import type { RtpPacket } from './rtp-packet.ts';

export const DEFAULT_DTMF_PAYLOAD_TYPE = 101;
export const TELEPHONE_EVENT_BYTES = 4;

const DIGITS = '0123456789*#ABCD';

export interface TelephoneEvent {
  /** 0-9 digits, 10 '*', 11 '#', 12-15 A-D, 16 flash (RFC 4733 table 3). */
  readonly event: number;
  readonly end: boolean;
  /** Power level in -dBm0 (0-63). */
  readonly volume: number;
  /** Duration so far in RTP timestamp units (8 kHz: 8 per ms). */
  readonly duration: number;
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | BridgeError {
  if (payload.length < TELEPHONE_EVENT_BYTES) {
    return new BridgeError('DTMF_MALFORMED', `telephone-event payload of ${payload.length} bytes, need 4`, {
      length: payload.length,
    });
  }
  return {
    event: payload[0],
    end: (payload[1] & 0x80) !== 0,
    volume: payload[1] & 0x3f,
    duration: (payload[2] << 8) | payload[3],
  };
}

/** '0'-'9', '*', '#', 'A'-'D' for events 0-15, otherwise null. */
export function eventToDigit(event: number): string | null {
  return event >= 0 && event < DIGITS.length ? DIGITS[event] : null;
}

export function digitToEvent(digit: string): number {
  const i = digit.length === 1 ? DIGITS.indexOf(digit.toUpperCase()) : -1;
  if (i < 0) throw new BridgeError('DTMF_MALFORMED', `not a DTMF digit: ${JSON.stringify(digit)}`, { digit });
  return i;
}

export interface DtmfReceiverCounters {
  /** Telephone-event packets seen (repeats included). */
  packets: number;
  /** Distinct digits reported. */
  digits: number;
  malformed: number;
  /** Events that are not digits (flash, tones) or arrived for an older event: ignored. */
  ignored: number;
}

export class DtmfReceiver {
  readonly counters: DtmfReceiverCounters = { packets: 0, digits: 0, malformed: 0, ignored: 0 };
  private lastTimestamp = 0;
  private lastSsrc = -1;
  private haveLast = false;

  /** Returns the digit the first time an event (RTP timestamp) is seen, null for its repeats. */
  push(pkt: RtpPacket): string | null {
    this.counters.packets++;
    const p = pkt.payload;
    if (p.length < TELEPHONE_EVENT_BYTES) {
      this.counters.malformed++;
      return null;
    }
    if (this.haveLast && pkt.ssrc === this.lastSsrc) {
      // Serial-number comparison: a repeat (same timestamp) or a straggler from an earlier event.
      const d = (pkt.timestamp - this.lastTimestamp) | 0;
      if (d === 0) return null;
      if (d < 0) {
        this.counters.ignored++;
        return null;
      }
    }
    const digit = eventToDigit(p[0]);
    this.haveLast = true;
    this.lastTimestamp = pkt.timestamp;
    this.lastSsrc = pkt.ssrc;
    if (digit === null) {
      this.counters.ignored++;
      return null;
    }
    this.counters.digits++;
    return digit;
  }

  reset(): void {
    this.haveLast = false;
  }
}

/** Number of end packets (RFC 4733 section 2.5.1.4 recommends three). */
export const DTMF_END_REPEATS = 3;

/**
 * Payloads for one digit, one per 20 ms packet: duration grows by 160 per packet, the last three
 * carry the end bit and the final duration. The caller sends them all with the RTP timestamp of the
 * event start and the marker bit on the first. Allocates (DTMF is rare; not the audio hot path).
 */
export function buildTelephoneEvents(digit: string, durationMs = 100, volume = 10): Uint8Array[] {
  const event = digitToEvent(digit);
  if (!Number.isFinite(durationMs)) throw new BridgeError('DTMF_MALFORMED', 'DTMF duration must be a number', { durationMs });
  // 40 ms is the shortest digit receivers reliably accept; 8 s keeps duration under 16 bits at 8 kHz.
  const ms = Math.min(8000, Math.max(40, durationMs));
  const steps = Math.ceil(ms / 20);
  const out: Uint8Array[] = [];
  for (let i = 1; i <= steps; i++) {
    const end = i === steps;
    const duration = i * 160;
    const p = new Uint8Array(TELEPHONE_EVENT_BYTES);
    p[0] = event;
    p[1] = (end ? 0x80 : 0) | (volume & 0x3f);
    p[2] = (duration >> 8) & 0xff;
    p[3] = duration & 0xff;
    out.push(p);
    if (end) for (let r = 1; r < DTMF_END_REPEATS; r++) out.push(p);
  }
  return out;
}
