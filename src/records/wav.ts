/**
 * Canonical 44-byte PCM WAV header: build, parse, and repair from the file's real length. A
 * recording is written with a header that is patched as data is appended, so a killed process
 * leaves a playable file; repair fixes what the last patch missed.
 */
import { open } from 'node:fs/promises';
import { BridgeError } from '../errors.ts';

export const WAV_HEADER_BYTES = 44;

export interface WavFormat {
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/** The call recording: caller left, agent right, 8 kHz, 16-bit. */
export const CALL_WAV: WavFormat = { channels: 2, sampleRate: 8000, bitsPerSample: 16 };

export function blockAlign(f: WavFormat): number {
  return (f.channels * f.bitsPerSample) / 8;
}

export function wavHeader(dataBytes: number, f: WavFormat = CALL_WAV): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(f.channels, 22);
  h.writeUInt32LE(f.sampleRate, 24);
  h.writeUInt32LE(f.sampleRate * blockAlign(f), 28);
  h.writeUInt16LE(blockAlign(f), 32);
  h.writeUInt16LE(f.bitsPerSample, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(Math.min(0xffffffff - 36, dataBytes), 40);
  return h;
}

/** The two size fields, for patching in place: [offset, value] pairs. */
export function sizeFields(dataBytes: number): Array<[number, number]> {
  return [
    [4, Math.min(0xffffffff, 36 + dataBytes)],
    [40, Math.min(0xffffffff - 36, dataBytes)],
  ];
}

export interface ParsedWav extends WavFormat {
  dataBytes: number;
  riffBytes: number;
}

/** Parses our canonical header (the only layout this daemon writes). */
export function parseWavHeader(h: Buffer): ParsedWav {
  if (h.length < WAV_HEADER_BYTES || h.toString('ascii', 0, 4) !== 'RIFF' || h.toString('ascii', 8, 12) !== 'WAVE') {
    throw new BridgeError('AUDIO_BAD_FRAME', 'not a RIFF/WAVE file', { bytes: h.length });
  }
  if (h.toString('ascii', 12, 16) !== 'fmt ' || h.toString('ascii', 36, 40) !== 'data' || h.readUInt16LE(20) !== 1) {
    throw new BridgeError('AUDIO_BAD_FRAME', 'not a canonical 44-byte PCM WAV header', {});
  }
  return {
    riffBytes: h.readUInt32LE(4),
    channels: h.readUInt16LE(22),
    sampleRate: h.readUInt32LE(24),
    bitsPerSample: h.readUInt16LE(34),
    dataBytes: h.readUInt32LE(40),
  };
}

export interface RepairResult {
  repaired: boolean;
  dataBytes: number;
  /** Bytes of a partial sample frame cut off the end. */
  truncatedBytes: number;
}

/**
 * Makes the header agree with the file: data size = whole sample frames present. A missing or
 * unreadable header (killed before the first write finished) is rewritten with CALL_WAV.
 */
export async function repairWav(path: string, fallback: WavFormat = CALL_WAV): Promise<RepairResult> {
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(WAV_HEADER_BYTES);
    const { bytesRead } = await fh.read(head, 0, WAV_HEADER_BYTES, 0);
    let fmt: WavFormat = fallback;
    let declared = -1;
    let declaredRiff = -1;
    if (bytesRead === WAV_HEADER_BYTES) {
      try {
        const p = parseWavHeader(head);
        fmt = p;
        declared = p.dataBytes;
        declaredRiff = p.riffBytes;
      } catch {
        /* rewritten below */
      }
    }
    const align = blockAlign(fmt);
    const raw = Math.max(0, size - WAV_HEADER_BYTES);
    const dataBytes = raw - (raw % align);
    const truncatedBytes = size < WAV_HEADER_BYTES ? 0 : raw - dataBytes;
    if (declared === dataBytes && declaredRiff === 36 + dataBytes && truncatedBytes === 0) {
      return { repaired: false, dataBytes, truncatedBytes: 0 };
    }
    if (truncatedBytes > 0) await fh.truncate(WAV_HEADER_BYTES + dataBytes);
    await fh.write(wavHeader(dataBytes, fmt), 0, WAV_HEADER_BYTES, 0);
    return { repaired: true, dataBytes, truncatedBytes };
  } finally {
    await fh.close();
  }
}
