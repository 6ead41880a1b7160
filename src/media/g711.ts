/**
 * G.711 µ-law and A-law as table lookups. Decoding is the ITU-T G.711 expansion; encoding is
 * bit-exact with sox (SoX 14.4 rounds the 16-bit sample to the nearest 14-bit (µ-law) or 13-bit
 * (A-law) value before companding, where the ITU G.191 reference truncates). Rounding halves the
 * quantisation bias, and matching sox lets recordings be checked with standard tools.
 *
 * All tables are built once at module load (64 KiB per law for encode): the hot path is one
 * indexed read per sample and never allocates when the caller passes `dst`.
 */
export type G711Codec = 'ulaw' | 'alaw';

/** RTP static payload type of each law (RFC 3551). */
export const G711_PAYLOAD_TYPE: Readonly<Record<G711Codec, number>> = { ulaw: 0, alaw: 8 };

const ULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
const ULAW_ENCODE = new Uint8Array(65536);
const ALAW_ENCODE = new Uint8Array(65536);

function expandUlaw(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 7;
  const t = (((u & 0x0f) << 3) + 0x84) << exponent;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function expandAlaw(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else {
    t += 0x108;
    if (seg > 1) t <<= seg - 1;
  }
  return a & 0x80 ? t : -t;
}

const ULAW_SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function segment(v: number, ends: readonly number[]): number {
  for (let i = 0; i < ends.length; i++) if (v <= ends[i]) return i;
  return ends.length;
}

/** sox's sox_14linear2ulaw on a 14-bit two's complement value. */
function compressUlaw14(pcm: number): number {
  let mask = 0xff;
  let v = pcm;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > 8159) v = 8159;
  v += 0x84 >> 2;
  const seg = segment(v, ULAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

/** sox's sox_13linear2alaw on a 13-bit two's complement value. */
function compressAlaw13(pcm: number): number {
  let mask = 0xd5;
  let v = pcm;
  if (v < 0) {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segment(v, ALAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  const aval = (seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0f);
  return aval ^ mask;
}

for (let c = 0; c < 256; c++) {
  ULAW_DECODE[c] = expandUlaw(c);
  ALAW_DECODE[c] = expandAlaw(c);
}
for (let x = -32768; x < 32768; x++) {
  // sox: round to nearest, clip at the positive end of the narrower range.
  const u14 = Math.min((x + 2) >> 2, 8191);
  const a13 = Math.min((x + 4) >> 3, 4095);
  ULAW_ENCODE[x & 0xffff] = compressUlaw14(u14);
  ALAW_ENCODE[x & 0xffff] = compressAlaw13(a13);
}

function decodeWith(table: Int16Array, src: Uint8Array, dst?: Int16Array): Int16Array {
  const out = dst ?? new Int16Array(src.length);
  const n = Math.min(src.length, out.length);
  for (let i = 0; i < n; i++) out[i] = table[src[i]];
  return out;
}

function encodeWith(table: Uint8Array, src: Int16Array, dst?: Uint8Array): Uint8Array {
  const out = dst ?? new Uint8Array(src.length);
  const n = Math.min(src.length, out.length);
  for (let i = 0; i < n; i++) out[i] = table[src[i] & 0xffff];
  return out;
}

/**
 * Decoders/encoders process min(src.length, dst.length) samples and return `dst` (or a new array of
 * src.length when dst is omitted).
 */
export function ulawDecode(src: Uint8Array, dst?: Int16Array): Int16Array {
  return decodeWith(ULAW_DECODE, src, dst);
}
export function ulawEncode(src: Int16Array, dst?: Uint8Array): Uint8Array {
  return encodeWith(ULAW_ENCODE, src, dst);
}
export function alawDecode(src: Uint8Array, dst?: Int16Array): Int16Array {
  return decodeWith(ALAW_DECODE, src, dst);
}
export function alawEncode(src: Int16Array, dst?: Uint8Array): Uint8Array {
  return encodeWith(ALAW_ENCODE, src, dst);
}

/** Single-sample forms, for code that works sample by sample. */
export function ulawDecodeSample(code: number): number {
  return ULAW_DECODE[code & 0xff];
}
export function ulawEncodeSample(sample: number): number {
  return ULAW_ENCODE[sample & 0xffff];
}
export function alawDecodeSample(code: number): number {
  return ALAW_DECODE[code & 0xff];
}
export function alawEncodeSample(sample: number): number {
  return ALAW_ENCODE[sample & 0xffff];
}

export type G711Decoder = (src: Uint8Array, dst?: Int16Array) => Int16Array;
export type G711Encoder = (src: Int16Array, dst?: Uint8Array) => Uint8Array;

export function decoderFor(codec: G711Codec): G711Decoder {
  return codec === 'alaw' ? alawDecode : ulawDecode;
}
export function encoderFor(codec: G711Codec): G711Encoder {
  return codec === 'alaw' ? alawEncode : ulawEncode;
}

/** The byte that decodes to (near) zero: what a silent G.711 payload is filled with. */
export function silenceByte(codec: G711Codec): number {
  return codec === 'alaw' ? 0xd5 : 0xff;
}
