/**
 * RTP fixed header, CSRC list, header extension and padding (RFC 3550 section 5.1/5.3.1).
 *
 * parseRtp is on the per-packet hot path: bad input comes back as a BridgeError value (never
 * thrown) so the socket handler can count it by code; the payload is a view into the datagram, not
 * a copy. writeRtp fills a caller-owned buffer so senders can reuse one allocation.
 */
import { BridgeError } from '../errors.ts';

export const RTP_VERSION = 2;
export const RTP_HEADER_BYTES = 12;

export interface RtpExtension {
  /** The 16-bit "defined by profile" field (0xBEDE for RFC 8285 one-byte headers). */
  readonly profile: number;
  /** Extension body without its 4-byte header (length is a multiple of 4). */
  readonly data: Uint8Array;
}

export interface RtpPacket {
  readonly version: number;
  /** The P bit; padding bytes are already stripped from `payload`. */
  readonly padding: boolean;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly csrcs: readonly number[];
  readonly extension?: RtpExtension;
  /** View into the parsed buffer (no copy): copy it before the buffer is reused. */
  readonly payload: Uint8Array;
}

/** What writeRtp needs; version is always 2. */
export interface RtpHeaderInit {
  readonly payloadType: number;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly marker?: boolean;
  readonly csrcs?: readonly number[];
  readonly extension?: RtpExtension;
  /** Pad the packet with this many bytes (1-255, last byte = count) and set the P bit. */
  readonly paddingBytes?: number;
}

const NO_CSRCS: readonly number[] = Object.freeze([]);

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Parse one datagram. Returns the packet, or a BridgeError (RTP_*) describing what is wrong. */
export function parseRtp(buf: Uint8Array): RtpPacket | BridgeError {
  const len = buf.length;
  if (len < RTP_HEADER_BYTES) {
    return new BridgeError('RTP_TRUNCATED', `RTP packet of ${len} bytes is shorter than the 12-byte header`, {
      length: len,
    });
  }
  const b0 = buf[0];
  const version = b0 >> 6;
  if (version !== RTP_VERSION) {
    return new BridgeError('RTP_BAD_VERSION', `RTP version ${version}, expected 2`, { version });
  }
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  let offset = RTP_HEADER_BYTES + cc * 4;
  if (offset > len) {
    return new BridgeError('RTP_TRUNCATED', `RTP packet of ${len} bytes too short for ${cc} CSRCs`, {
      length: len,
      csrcCount: cc,
    });
  }
  let csrcs = NO_CSRCS;
  if (cc > 0) {
    const list: number[] = new Array(cc);
    for (let i = 0; i < cc; i++) list[i] = readU32(buf, RTP_HEADER_BYTES + i * 4);
    csrcs = list;
  }
  let extension: RtpExtension | undefined;
  if (hasExtension) {
    if (offset + 4 > len) {
      return new BridgeError('RTP_BAD_EXTENSION', 'RTP extension bit set but no room for the extension header', {
        length: len,
        offset,
      });
    }
    const profile = (buf[offset] << 8) | buf[offset + 1];
    const words = (buf[offset + 2] << 8) | buf[offset + 3];
    const end = offset + 4 + words * 4;
    if (end > len) {
      return new BridgeError('RTP_BAD_EXTENSION', `RTP extension of ${words} words overruns the packet`, {
        length: len,
        extensionWords: words,
      });
    }
    extension = { profile, data: buf.subarray(offset + 4, end) };
    offset = end;
  }
  let payloadEnd = len;
  if (hasPadding) {
    const pad = buf[len - 1];
    if (pad === 0 || pad > len - offset) {
      return new BridgeError('RTP_BAD_PADDING', `RTP padding count ${pad} invalid for ${len - offset} bytes after the header`, {
        length: len,
        padding: pad,
        headerBytes: offset,
      });
    }
    payloadEnd = len - pad;
  }
  return {
    version,
    padding: hasPadding,
    marker: (buf[1] & 0x80) !== 0,
    payloadType: buf[1] & 0x7f,
    sequence: (buf[2] << 8) | buf[3],
    timestamp: readU32(buf, 4),
    ssrc: readU32(buf, 8),
    csrcs,
    extension,
    payload: buf.subarray(offset, payloadEnd),
  };
}

/** Bytes writeRtp will need for this header and payload length. */
export function rtpPacketSize(header: RtpHeaderInit, payloadLength: number): number {
  const cc = header.csrcs?.length ?? 0;
  const ext = header.extension ? 4 + header.extension.data.length : 0;
  return RTP_HEADER_BYTES + cc * 4 + ext + payloadLength + (header.paddingBytes ?? 0);
}

/**
 * Write header + payload into `out` at offset 0 and return the packet length. Throws (programming
 * errors only, never input from the network) when `out` is too small or a field is out of range.
 */
export function writeRtp(header: RtpHeaderInit, payload: Uint8Array, out: Uint8Array): number {
  const cc = header.csrcs?.length ?? 0;
  const pad = header.paddingBytes ?? 0;
  const ext = header.extension;
  if (cc > 15) throw new BridgeError('INTERNAL', `RTP allows at most 15 CSRCs, got ${cc}`);
  if (pad < 0 || pad > 255 || !Number.isInteger(pad)) {
    throw new BridgeError('INTERNAL', `RTP padding must be 0-255 bytes, got ${pad}`);
  }
  if (ext && ext.data.length % 4 !== 0) {
    throw new BridgeError('INTERNAL', `RTP extension data must be a multiple of 4 bytes, got ${ext.data.length}`);
  }
  const total = rtpPacketSize(header, payload.length);
  if (total > out.length) {
    throw new BridgeError('INTERNAL', `RTP packet of ${total} bytes does not fit a ${out.length}-byte buffer`);
  }
  out[0] = (RTP_VERSION << 6) | (pad > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | cc;
  out[1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  out[2] = (header.sequence >> 8) & 0xff;
  out[3] = header.sequence & 0xff;
  writeU32(out, 4, header.timestamp >>> 0);
  writeU32(out, 8, header.ssrc >>> 0);
  let o = RTP_HEADER_BYTES;
  for (let i = 0; i < cc; i++, o += 4) writeU32(out, o, header.csrcs![i] >>> 0);
  if (ext) {
    const words = ext.data.length / 4;
    out[o] = (ext.profile >> 8) & 0xff;
    out[o + 1] = ext.profile & 0xff;
    out[o + 2] = (words >> 8) & 0xff;
    out[o + 3] = words & 0xff;
    out.set(ext.data, o + 4);
    o += 4 + ext.data.length;
  }
  out.set(payload, o);
  o += payload.length;
  if (pad > 0) {
    out.fill(0, o, o + pad - 1);
    out[o + pad - 1] = pad;
    o += pad;
  }
  return o;
}

/**
 * The 12-byte fixed header alone (no CSRC/extension/padding), without building a header object:
 * what the pacer writes 50 times a second per call.
 */
export function writeRtpFixedHeader(
  out: Uint8Array,
  marker: boolean,
  payloadType: number,
  sequence: number,
  timestamp: number,
  ssrc: number,
): void {
  out[0] = RTP_VERSION << 6;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[2] = (sequence >> 8) & 0xff;
  out[3] = sequence & 0xff;
  writeU32(out, 4, timestamp >>> 0);
  writeU32(out, 8, ssrc >>> 0);
}

export function isRtpPacket(v: RtpPacket | BridgeError): v is RtpPacket {
  return !(v instanceof BridgeError);
}
