/**
 * VICIdial API replies are text: one or more `SUCCESS: <fn> <MESSAGE> - a|b|c`, `NOTICE: ...`,
 * `ERROR: ...` lines (update_lead prints a SUCCESS and then NOTICE lines), or bare data for the
 * data functions (lead_all_info prints a header line and pipe-separated rows). Pure parsing here.
 */
export type ReplyKind = 'success' | 'notice' | 'error' | 'data';

export interface ReplyLine {
  readonly kind: Exclude<ReplyKind, 'data'>;
  /** The function name echoed by VICIdial (`update_lead`), or '' when the line has none (login errors). */
  readonly fn: string;
  /** Upper-case message between the function and ` - ` (e.g. `LEAD HAS BEEN UPDATED`). */
  readonly message: string;
  /** The `|`-separated values after ` - `. */
  readonly detail: readonly string[];
}

export interface ApiReply {
  /** error if any line is an ERROR; else success; else notice; data when no status line at all. */
  readonly kind: ReplyKind;
  readonly lines: readonly ReplyLine[];
  /** Non-status lines (data functions). */
  readonly data: readonly string[];
  /** True for bad login / missing permission: retrying cannot help until an admin fixes the user. */
  readonly authFailure: boolean;
}

const STATUS_LINE = /^(SUCCESS|NOTICE|ERROR):\s*(.*)$/;
const AUTH_FAILURE = /Login incorrect|USER DOES NOT HAVE PERMISSION|NOT ALLOWED TO USE THIS FUNCTION|auth USER|Invalid Username\/Password/i;

export function parseReply(text: string, fn?: string): ApiReply {
  const lines: ReplyLine[] = [];
  const data: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.trim() === '') continue;
    const m = STATUS_LINE.exec(line.trim());
    if (!m) {
      data.push(line);
      continue;
    }
    lines.push(parseStatusLine(m[1] as 'SUCCESS' | 'NOTICE' | 'ERROR', m[2], fn));
  }
  const kind: ReplyKind = lines.some((l) => l.kind === 'error')
    ? 'error'
    : lines.some((l) => l.kind === 'success')
      ? 'success'
      : lines.length > 0
        ? 'notice'
        : 'data';
  const authFailure = lines.some((l) => l.kind === 'error' && AUTH_FAILURE.test(`${l.fn} ${l.message}`));
  return { kind, lines, data, authFailure };
}

function parseStatusLine(tag: 'SUCCESS' | 'NOTICE' | 'ERROR', rest: string, fn?: string): ReplyLine {
  const kind = tag.toLowerCase() as ReplyLine['kind'];
  // `Login incorrect, please try again: |user|pass|...|` has no function and no ` - `.
  const dash = rest.indexOf(' - ');
  const head = dash >= 0 ? rest.slice(0, dash) : rest.replace(/:\s*\|.*$/, '');
  const tail = dash >= 0 ? rest.slice(dash + 3) : '';
  let lineFn = '';
  let message = head.trim();
  const firstSpace = message.indexOf(' ');
  const firstWord = firstSpace > 0 ? message.slice(0, firstSpace) : message;
  if (/^[a-z_]+$/.test(firstWord) && (fn === undefined || firstWord === fn || firstWord === 'auth')) {
    lineFn = firstWord;
    message = firstSpace > 0 ? message.slice(firstSpace + 1).trim() : '';
  }
  const detail = tail === '' ? [] : tail.trim().split('|');
  return { kind, fn: lineFn, message, detail };
}

/**
 * Rows of a pipe/tab/csv data reply with a header line (`header=YES`) into records; fields are
 * matched by the header's names so VICIdial adding columns does not shift ours.
 */
export function parseHeaderRows(data: readonly string[], sep = '|'): Array<Record<string, string>> {
  if (data.length < 2) return [];
  const names = data[0].split(sep).map((s) => s.trim());
  const out: Array<Record<string, string>> = [];
  for (const row of data.slice(1)) {
    const values = row.split(sep);
    const rec: Record<string, string> = {};
    names.forEach((name, i) => {
      if (name !== '') rec[name] = (values[i] ?? '').trim();
    });
    out.push(rec);
  }
  return out;
}

/** A reply line for logs and errors, with any echoed secret replaced (bad-login lines echo the pass). */
export function describeReply(reply: ApiReply, secrets: readonly string[]): string {
  const first = reply.lines.find((l) => l.kind === 'error') ?? reply.lines[0];
  if (!first) return `${reply.data.length} data line(s)`;
  const detail = first.detail.map((d) => (secrets.includes(d) && d !== '' ? '<redacted>' : d)).join('|');
  return `${first.kind.toUpperCase()}: ${first.fn ? first.fn + ' ' : ''}${first.message}${detail ? ' - ' + detail : ''}`;
}
