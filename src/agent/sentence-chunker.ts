/**
 * Cuts streamed model text into speakable chunks so TTS can start on the first sentence while the
 * model still writes the second. The first chunk of a reply may be cut at a clause (comma) once it
 * is long enough: the caller hears something sooner, and flite/ElevenLabs prosody survives a clause.
 */
const SENTENCE_END = /[.!?…]+["')\]]*(\s+|$)/g;
const CLAUSE_END = /[,;:—–]\s+/g;

export interface ChunkerOptions {
  /** Earliest clause cut for the first chunk of a reply (characters). */
  firstClauseMin?: number;
  /** Any chunk longer than this is cut at its last clause boundary. */
  maxChunk?: number;
}

export class SentenceChunker {
  private buf = '';
  private emitted = 0;
  private readonly firstClauseMin: number;
  private readonly maxChunk: number;

  constructor(opts: ChunkerOptions = {}) {
    this.firstClauseMin = opts.firstClauseMin ?? 24;
    this.maxChunk = opts.maxChunk ?? 160;
  }

  /** Add streamed text; returns the chunks that became complete. */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    for (;;) {
      const cut = this.findCut();
      if (cut <= 0) break;
      const chunk = this.buf.slice(0, cut).trim();
      this.buf = this.buf.slice(cut);
      if (chunk) {
        out.push(chunk);
        this.emitted++;
      }
    }
    return out;
  }

  /** End of the reply: whatever is left is a chunk. */
  flush(): string[] {
    const rest = this.buf.trim();
    this.buf = '';
    if (!rest) return [];
    this.emitted++;
    return [rest];
  }

  reset(): void {
    this.buf = '';
    this.emitted = 0;
  }

  private findCut(): number {
    SENTENCE_END.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = SENTENCE_END.exec(this.buf))) {
      const end = m.index + m[0].length;
      // "Dr. Smith" / "3.5": a sentence end needs whitespace after it, or must be the text's end
      // and then we wait for more text (the model may still be writing "3.5").
      if (end === this.buf.length && !/\s$/.test(m[0])) return -1;
      const before = this.buf.slice(Math.max(0, m.index - 3), m.index);
      if (/\b(Mr|Mrs|Ms|Dr|St|vs|Jr|Sr)$/i.test(before) && m[0].startsWith('.')) continue;
      return end;
    }
    const clauseMin = this.emitted === 0 ? this.firstClauseMin : this.maxChunk;
    if (this.buf.length >= clauseMin) {
      CLAUSE_END.lastIndex = 0;
      let last = -1;
      while ((m = CLAUSE_END.exec(this.buf))) {
        const end = m.index + m[0].length;
        if (end >= Math.min(clauseMin, this.buf.length)) {
          last = end;
          if (this.emitted === 0) break;
        }
      }
      if (last > 0) return last;
    }
    return -1;
  }
}

/** The part of `text` a listener heard after `fraction` of its audio played, cut at a word boundary. */
export function heardPrefix(text: string, fraction: number): string {
  if (fraction >= 0.999) return text;
  if (fraction <= 0) return '';
  const words = text.split(/\s+/).filter(Boolean);
  const n = Math.floor(words.length * fraction);
  return words.slice(0, n).join(' ');
}
