/**
 * A hand-written SVG chart of the benchmark figures against the number of concurrent calls: one
 * small panel per figure, each with its target as a dashed line, so a reader sees where the box
 * saturates. No chart library: a few polylines and labels.
 */

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number | null]>;
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly Series[];
  readonly target?: { readonly value: number; readonly label: string };
}

const W = 420;
const H = 250;
const M = { l: 56, r: 16, t: 30, b: 40 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(2).replace(/\.?0+$/, '');
}

function panel(p: Panel, ox: number, oy: number, xs: readonly number[]): string {
  const xMax = Math.max(...xs, 1);
  const values = p.series.flatMap((s) => s.points.map(([, y]) => y).filter((y): y is number => y !== null && Number.isFinite(y)));
  if (p.target) values.push(p.target.value);
  const yMax = niceMax(Math.max(...values, 0) * 1.1);
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const X = (x: number): number => ox + M.l + (x / xMax) * pw;
  const Y = (y: number): number => oy + M.t + ph - (Math.min(y, yMax) / yMax) * ph;
  const out: string[] = [];
  out.push(`<rect x="${ox + M.l}" y="${oy + M.t}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#ccc"/>`);
  out.push(`<text x="${ox + W / 2}" y="${oy + 18}" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const yv = (yMax * i) / 4;
    out.push(`<line x1="${ox + M.l}" x2="${ox + M.l + pw}" y1="${Y(yv)}" y2="${Y(yv)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${ox + M.l - 6}" y="${Y(yv) + 4}" text-anchor="end" font-size="10">${fmt(yv)}</text>`);
  }
  for (const x of xs) {
    out.push(`<text x="${X(x)}" y="${oy + M.t + ph + 14}" text-anchor="middle" font-size="10">${x}</text>`);
  }
  out.push(`<text x="${ox + M.l + pw / 2}" y="${oy + H - 6}" text-anchor="middle" font-size="10">concurrent calls</text>`);
  out.push(`<text x="${ox + 12}" y="${oy + M.t + ph / 2}" text-anchor="middle" font-size="10" transform="rotate(-90 ${ox + 12} ${oy + M.t + ph / 2})">${esc(p.unit)}</text>`);
  if (p.target) {
    const ty = Y(p.target.value);
    out.push(`<line x1="${ox + M.l}" x2="${ox + M.l + pw}" y1="${ty}" y2="${ty}" stroke="#d33" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${ox + M.l + pw - 4}" y="${ty - 4}" text-anchor="end" font-size="10" fill="#d33">${esc(p.target.label)}</text>`);
  }
  p.series.forEach((s, si) => {
    const pts = s.points.filter((pt): pt is readonly [number, number] => pt[1] !== null && Number.isFinite(pt[1]));
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const [x, y] of pts) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.label)} @ ${x}: ${fmt(y)}</title></circle>`);
    out.push(`<rect x="${ox + M.l + 8}" y="${oy + M.t + 6 + si * 14}" width="10" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${ox + M.l + 22}" y="${oy + M.t + 11 + si * 14}" font-size="10">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

/** Panels laid out two per row. */
export function renderChart(title: string, subtitle: string, xs: readonly number[], panels: readonly Panel[]): string {
  const cols = 2;
  const rows = Math.ceil(panels.length / cols);
  const width = cols * W;
  const height = rows * H + 50;
  const body = panels.map((p, i) => panel(p, (i % cols) * W, 50 + Math.floor(i / cols) * H, xs)).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>
${body}
</svg>
`;
}
