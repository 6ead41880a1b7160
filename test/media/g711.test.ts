import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  alawDecode,
  alawEncode,
  decoderFor,
  encoderFor,
  silenceByte,
  ulawDecode,
  ulawEncode,
} from '../../src/media/g711.ts';

// ITU-T G.711 reconstruction values for codes 0x00..0xFF (Table 2a µ-law, Table 1a A-law, with the
// even-bit inversion of A-law applied), as sox and every G.711 implementation decode them.
const ULAW_STANDARD = [
  -32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956, -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
  -15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412, -11900, -11388, -10876, -10364, -9852, -9340, -8828, -8316,
  -7932, -7676, -7420, -7164, -6908, -6652, -6396, -6140, -5884, -5628, -5372, -5116, -4860, -4604, -4348, -4092,
  -3900, -3772, -3644, -3516, -3388, -3260, -3132, -3004, -2876, -2748, -2620, -2492, -2364, -2236, -2108, -1980,
  -1884, -1820, -1756, -1692, -1628, -1564, -1500, -1436, -1372, -1308, -1244, -1180, -1116, -1052, -988, -924,
  -876, -844, -812, -780, -748, -716, -684, -652, -620, -588, -556, -524, -492, -460, -428, -396,
  -372, -356, -340, -324, -308, -292, -276, -260, -244, -228, -212, -196, -180, -164, -148, -132,
  -120, -112, -104, -96, -88, -80, -72, -64, -56, -48, -40, -32, -24, -16, -8, 0,
  32124, 31100, 30076, 29052, 28028, 27004, 25980, 24956, 23932, 22908, 21884, 20860, 19836, 18812, 17788, 16764,
  15996, 15484, 14972, 14460, 13948, 13436, 12924, 12412, 11900, 11388, 10876, 10364, 9852, 9340, 8828, 8316,
  7932, 7676, 7420, 7164, 6908, 6652, 6396, 6140, 5884, 5628, 5372, 5116, 4860, 4604, 4348, 4092,
  3900, 3772, 3644, 3516, 3388, 3260, 3132, 3004, 2876, 2748, 2620, 2492, 2364, 2236, 2108, 1980,
  1884, 1820, 1756, 1692, 1628, 1564, 1500, 1436, 1372, 1308, 1244, 1180, 1116, 1052, 988, 924,
  876, 844, 812, 780, 748, 716, 684, 652, 620, 588, 556, 524, 492, 460, 428, 396,
  372, 356, 340, 324, 308, 292, 276, 260, 244, 228, 212, 196, 180, 164, 148, 132,
  120, 112, 104, 96, 88, 80, 72, 64, 56, 48, 40, 32, 24, 16, 8, 0,
];
const ALAW_STANDARD = [
  -5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736, -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784,
  -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368, -3776, -3648, -4032, -3904, -3264, -3136, -3520, -3392,
  -22016, -20992, -24064, -23040, -17920, -16896, -19968, -18944, -30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
  -11008, -10496, -12032, -11520, -8960, -8448, -9984, -9472, -15104, -14592, -16128, -15616, -13056, -12544, -14080, -13568,
  -344, -328, -376, -360, -280, -264, -312, -296, -472, -456, -504, -488, -408, -392, -440, -424,
  -88, -72, -120, -104, -24, -8, -56, -40, -216, -200, -248, -232, -152, -136, -184, -168,
  -1376, -1312, -1504, -1440, -1120, -1056, -1248, -1184, -1888, -1824, -2016, -1952, -1632, -1568, -1760, -1696,
  -688, -656, -752, -720, -560, -528, -624, -592, -944, -912, -1008, -976, -816, -784, -880, -848,
  5504, 5248, 6016, 5760, 4480, 4224, 4992, 4736, 7552, 7296, 8064, 7808, 6528, 6272, 7040, 6784,
  2752, 2624, 3008, 2880, 2240, 2112, 2496, 2368, 3776, 3648, 4032, 3904, 3264, 3136, 3520, 3392,
  22016, 20992, 24064, 23040, 17920, 16896, 19968, 18944, 30208, 29184, 32256, 31232, 26112, 25088, 28160, 27136,
  11008, 10496, 12032, 11520, 8960, 8448, 9984, 9472, 15104, 14592, 16128, 15616, 13056, 12544, 14080, 13568,
  344, 328, 376, 360, 280, 264, 312, 296, 472, 456, 504, 488, 408, 392, 440, 424,
  88, 72, 120, 104, 24, 8, 56, 40, 216, 200, 248, 232, 152, 136, 184, 168,
  1376, 1312, 1504, 1440, 1120, 1056, 1248, 1184, 1888, 1824, 2016, 1952, 1632, 1568, 1760, 1696,
  688, 656, 752, 720, 560, 528, 624, 592, 944, 912, 1008, 976, 816, 784, 880, 848,
];

// SHA-256 of sox 14.4.2's encoding of every int16 value from -32768 to 32767 in order
// (`sox -D -t raw -r 8000 -e signed -b 16 all.raw -t raw -e u-law all.ul`, same with a-law).
const SOX_ULAW_ALL_SHA256 = 'cd03795221187036041e2c68724ebbcc497e1844823ff4ab4ac6e61bc5948fb3';
const SOX_ALAW_ALL_SHA256 = '9ad77510792fe7c8192acff6bf30d3fe660e5644727b703881516fa61dbabdeb';

function allInt16(): Int16Array {
  const a = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) a[i] = i - 32768;
  return a;
}

function sha256(u8: Uint8Array): string {
  return createHash('sha256').update(u8).digest('hex');
}

function soxAvailable(): boolean {
  try {
    execFileSync('sox', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const codes = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('G.711 decode', () => {
  it('µ-law: all 256 codes decode to the standard values', () => {
    expect(Array.from(ulawDecode(codes))).toEqual(ULAW_STANDARD);
  });
  it('A-law: all 256 codes decode to the standard values', () => {
    expect(Array.from(alawDecode(codes))).toEqual(ALAW_STANDARD);
  });
  it('well-known anchors', () => {
    const u = ulawDecode(Uint8Array.of(0x00, 0x7f, 0x80, 0xff, 0x7e, 0xfe));
    expect(Array.from(u)).toEqual([-32124, 0, 32124, 0, -8, 8]);
    const a = alawDecode(Uint8Array.of(0xd5, 0x55, 0xaa, 0x2a));
    expect(Array.from(a)).toEqual([8, -8, 32256, -32256]);
  });
});

describe('G.711 encode', () => {
  it('µ-law encoding of all 65536 inputs is bit-exact with sox', () => {
    expect(sha256(ulawEncode(allInt16()))).toBe(SOX_ULAW_ALL_SHA256);
  });
  it('A-law encoding of all 65536 inputs is bit-exact with sox', () => {
    expect(sha256(alawEncode(allInt16()))).toBe(SOX_ALAW_ALL_SHA256);
  });
  it.skipIf(!soxAvailable())('matches a live sox run sample by sample', () => {
    const input = Buffer.from(allInt16().buffer);
    for (const [enc, fn] of [
      ['u-law', ulawEncode],
      ['a-law', alawEncode],
    ] as const) {
      const out = execFileSync('sox', ['-D', '-t', 'raw', '-r', '8000', '-e', 'signed', '-b', '16', '-c', '1', '-',
        '-t', 'raw', '-e', enc, '-'], { input, stdio: ['pipe', 'pipe', 'ignore'] });
      const ours = fn(allInt16());
      let firstDiff: number | null = null;
      for (let i = 0; i < 65536; i++) if (ours[i] !== out[i]) { firstDiff = i - 32768; break; }
      expect(firstDiff, `${enc} first differing input`).toBeNull();
    }
  });
  it('boundary values', () => {
    expect(Array.from(ulawEncode(Int16Array.of(0, -1, 1, 32767, -32768, 32124, -32124)))).toEqual([
      0xff, 0xff, 0xff, 0x80, 0x00, 0x80, 0x00,
    ]);
    expect(Array.from(alawEncode(Int16Array.of(0, -1, 32767, -32768, 8, -8)))).toEqual([
      0xd5, 0xd5, 0xaa, 0x2a, 0xd5, 0x55,
    ]);
  });
  it('round trip: encode(decode(code)) == code (µ-law negative zero maps to positive zero)', () => {
    const u = ulawEncode(ulawDecode(codes));
    const a = alawEncode(alawDecode(codes));
    for (let c = 0; c < 256; c++) {
      expect(u[c], `µ-law code ${c}`).toBe(c === 0x7f ? 0xff : c);
      expect(a[c], `A-law code ${c}`).toBe(c);
    }
  });
  it('every input decodes back to one of the two reconstruction levels around it', () => {
    for (const [enc, dec, table] of [
      [ulawEncode, ulawDecode, ULAW_STANDARD],
      [alawEncode, alawDecode, ALAW_STANDARD],
    ] as const) {
      const levels = [...new Set(table)].sort((p, q) => p - q);
      const x = allInt16();
      const back = dec(enc(x));
      const bad: number[] = [];
      let hi = 0;
      for (let i = 0; i < x.length; i++) {
        const v = x[i]; // ascending, so the level index only moves forward
        while (hi < levels.length - 1 && levels[hi] < v) hi++;
        const lo = levels[hi] <= v ? hi : Math.max(0, hi - 1);
        if (back[i] !== levels[lo] && back[i] !== levels[hi]) bad.push(v);
      }
      expect(bad).toEqual([]);
    }
  });
});

describe('G.711 API', () => {
  it('writes into dst without allocating and returns it', () => {
    const pcm = new Int16Array(160);
    const enc = new Uint8Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(8000 * Math.sin(i / 5));
    expect(ulawEncode(pcm, enc)).toBe(enc);
    const back = new Int16Array(160);
    expect(ulawDecode(enc, back)).toBe(back);
    expect(alawEncode(pcm, enc)).toBe(enc);
    expect(alawDecode(enc, back)).toBe(back);
  });
  it('decoderFor/encoderFor pick the law; silenceByte decodes to zero', () => {
    expect(decoderFor('ulaw')).toBe(ulawDecode);
    expect(decoderFor('alaw')).toBe(alawDecode);
    expect(encoderFor('ulaw')).toBe(ulawEncode);
    expect(encoderFor('alaw')).toBe(alawEncode);
    expect(ulawDecode(Uint8Array.of(silenceByte('ulaw')))[0]).toBe(0);
    expect(Math.abs(alawDecode(Uint8Array.of(silenceByte('alaw')))[0])).toBeLessThanOrEqual(8);
  });
});
