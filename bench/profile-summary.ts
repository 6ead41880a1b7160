/**
 * Summarize a V8 .cpuprofile (from `node --cpu-prof`): self time per function (file:line) and per
 * file, as shares of the sampled time. Usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export function summarizeProfile(path: string, top = 25): string {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const url = n.callFrame.url.replace(/^file:\/\/\/work\/main\//, '').replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${url || '(native)'}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + t);
    const fk = url || `(${n.callFrame.functionName})`;
    file.set(fk, (file.get(fk) ?? 0) + t);
  }
  const fmt = (m: Map<string, number>): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  return `sampled ${(total / 1e6).toFixed(1)} s\n\nself time by function:\n${fmt(fn)}\n\nself time by file:\n${fmt(file)}\n`;
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  process.stdout.write(summarizeProfile(process.argv[2], Number(process.argv[3] ?? 25)));
}
