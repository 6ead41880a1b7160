/**
 * Host checks: our RTP port range must be bindable and must not overlap Asterisk's own
 * (rtp.conf rtpstart/rtpend, default 10000-20000); the records folder needs free space; the RTP
 * socket I/O the config asks for must be there.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { chooseRtpIo, loadRtpIo, type RtpIoMode } from '../media/batched-udp.ts';
import { fail, pass, type CheckResult } from './check.ts';

/** Asterisk's compiled-in defaults when rtp.conf does not say. */
export const ASTERISK_RTP_DEFAULT = { start: 10000, end: 20000 };

/** Parses rtpstart/rtpend from rtp.conf text ([general] section; `;` comments). */
export function parseRtpConf(text: string): { start: number; end: number } {
  let section = '';
  const out = { ...ASTERISK_RTP_DEFAULT };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    if (!line) continue;
    const sec = /^\[([^\]]+)\]/.exec(line);
    if (sec) {
      section = sec[1].trim().toLowerCase();
      continue;
    }
    if (section !== 'general') continue;
    const kv = /^(rtpstart|rtpend)\s*=>?\s*(\d+)/i.exec(line);
    if (kv) out[kv[1].toLowerCase() === 'rtpstart' ? 'start' : 'end'] = Number(kv[2]);
  }
  return out;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

export interface RtpCheckInput {
  bindAddress: string;
  rtpPortMin: number;
  rtpPortMax: number;
  rtpConfPath: string;
  /** How many ports to try binding (sampled across the range): binding thousands is slow. */
  samplePorts?: number;
}

export async function checkRtpRange(inp: RtpCheckInput): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const { rtpPortMin: min, rtpPortMax: max } = inp;
  if (existsSync(inp.rtpConfPath)) {
    let ast = ASTERISK_RTP_DEFAULT;
    try {
      ast = parseRtpConf(readFileSync(inp.rtpConfPath, 'utf8'));
    } catch (err) {
      out.push(fail('rtp overlap', `cannot read ${inp.rtpConfPath}: ${(err as Error).message}`));
    }
    if (min <= ast.end && ast.start <= max) {
      out.push(fail('rtp overlap', `ours ${min}-${max} overlaps Asterisk's ${ast.start}-${ast.end} (${inp.rtpConfPath}): move media.rtpPortMin/Max`));
    } else out.push(pass('rtp overlap', `ours ${min}-${max}, Asterisk's ${ast.start}-${ast.end}: no overlap`));
  } else {
    out.push(pass('rtp overlap', `${inp.rtpConfPath} absent (no local Asterisk?); ours ${min}-${max}`, true));
  }
  const n = Math.max(1, Math.min(inp.samplePorts ?? 20, max - min + 1));
  const step = (max - min) / Math.max(1, n - 1);
  const busy: number[] = [];
  for (let i = 0; i < n; i++) {
    const port = Math.round(min + i * step);
    if (!(await bindable(port, inp.bindAddress))) busy.push(port);
  }
  out.push(
    busy.length === 0
      ? pass('rtp ports', `${n} sampled ports in ${min}-${max} bindable on ${inp.bindAddress}`)
      : fail('rtp ports', `${busy.length}/${n} sampled ports busy or not bindable on ${inp.bindAddress}: ${busy.slice(0, 5).join(', ')}${busy.length > 5 ? ', ...' : ''}`),
  );
  return out;
}

export async function checkDisk(dir: string, minFreeMb: number): Promise<CheckResult> {
  try {
    await mkdir(dir, { recursive: true });
    const s = await statfs(dir);
    const freeMb = Math.floor((Number(s.bavail) * Number(s.bsize)) / (1024 * 1024));
    // A stereo 8 kHz 16-bit recording is ~1.9 MB per minute.
    const hours = Math.floor(freeMb / 1.92 / 60);
    const detail = `${freeMb} MB free under ${dir} (~${hours} h of recordings)`;
    return freeMb >= minFreeMb ? pass('records disk', detail) : fail('records disk', `${detail}; need >= ${minFreeMb} MB`);
  } catch (err) {
    return fail('records disk', `${dir}: ${(err as Error).message}`);
  }
}

/**
 * media.rtpIo against this build: batched I/O needs native/rtp-io built (by `npm ci`). `auto`
 * without it still runs, on node:dgram (a warning: it costs more CPU per call); `native` does not.
 */
export function checkRtpIo(mode: RtpIoMode, bindAddress: string, load: () => unknown = loadRtpIo): CheckResult {
  if (mode === 'dgram') return pass('rtp io', 'node:dgram sockets (media.rtpIo: dgram)');
  if (isIPv6(bindAddress)) return pass('rtp io', `node:dgram sockets: batched I/O is IPv4 only and media.bindAddress is ${bindAddress}`, true);
  const choice = chooseRtpIo(mode, load);
  if (choice.io === 'batched') return pass('rtp io', 'batched (native/rtp-io built)');
  if (choice.io === 'none') return fail('rtp io', choice.error);
  return pass('rtp io', `node:dgram sockets, more CPU per call: the ${choice.fallback}`, true);
}
