/**
 * The keyword prefilter: one pass over the text finds every occurrence of every detector keyword,
 * so the cost of a scan does not grow with the number of detectors (only detectors whose keyword
 * occurs run, and only near the occurrence). This is Aho–Corasick compiled to a full DFA over
 * ASCII: keywords are ASCII and lowercase, text is folded A–Z → a–z as it is read, and any
 * non-ASCII character (which no keyword contains) sends the automaton back to its root.
 *
 * The DFA has one row of 128 transitions per trie node. With a few hundred keywords of a dozen
 * characters that is a few thousand states — a few megabytes at most — built once per scanner.
 * Case folding is in the table (the A–Z columns copy the a–z ones) and column 0 (NUL, in no
 * keyword) stands for every non-ASCII character, so the inner loop is one lookup per character.
 */

const ALPHABET = 128;

/** An automaton that reports every (possibly overlapping) occurrence of a fixed set of keywords. */
export class KeywordMatcher {
  /** The keywords, indexed as `scan` reports them. */
  readonly keywords: readonly string[];
  /** `delta[state * 128 + c]`: the next state. */
  private readonly delta: Int32Array;
  /** `outputs[state]`: the keyword indexes ending at that state (including by suffix), or undefined. */
  private readonly outputs: ReadonlyArray<readonly number[] | undefined>;
  /** `accepting[state]`: 1 when some keyword ends there (a typed array is cheaper to test per character). */
  private readonly accepting: Uint8Array;
  /** The longest keyword's length. */
  readonly longest: number;

  constructor(keywords: readonly string[]) {
    this.keywords = keywords;
    const children: Array<Map<number, number>> = [new Map()];
    const out: number[][] = [[]];
    keywords.forEach((keyword, index) => {
      let state = 0;
      for (let i = 0; i < keyword.length; i++) {
        const c = keyword.charCodeAt(i);
        if (c >= ALPHABET || c === 0 || (c >= 65 && c <= 90)) throw new RangeError(`keyword ${JSON.stringify(keyword)} is not lowercase ASCII`);
        let next = children[state].get(c);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          out.push([]);
          children[state].set(c, next);
        }
        state = next;
      }
      out[state].push(index);
    });

    // Breadth-first: each state's failure link is settled before its children need it, and its
    // missing transitions are copied from the failure state's (already complete) row.
    const count = children.length;
    const delta = new Int32Array(count * ALPHABET);
    const fail = new Int32Array(count);
    const queue: number[] = [];
    for (const [c, child] of children[0]) {
      delta[c] = child;
      queue.push(child);
    }
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head];
      const f = fail[state];
      if (out[f].length > 0) out[state] = [...out[state], ...out[f]];
      for (let c = 0; c < ALPHABET; c++) {
        const child = children[state].get(c);
        if (child === undefined) {
          delta[state * ALPHABET + c] = delta[f * ALPHABET + c];
        } else {
          fail[child] = delta[f * ALPHABET + c];
          delta[state * ALPHABET + c] = child;
          queue.push(child);
        }
      }
    }
    for (let state = 0; state < count; state++) {
      const row = state * ALPHABET;
      for (let c = 65; c <= 90; c++) delta[row + c] = delta[row + (c | 32)];
    }
    this.delta = delta;
    this.outputs = out.map((o) => (o.length > 0 ? o : undefined));
    this.accepting = Uint8Array.from(out, (o) => (o.length > 0 ? 1 : 0));
    this.longest = keywords.reduce((m, k) => Math.max(m, k.length), 1);
  }

  /**
   * Whether any keyword occurs in `bytes`, UTF-8, without decoding them: the answer `scan` would give
   * on the decoded text. Every byte of a multi-byte character (or of an invalid sequence, which
   * decodes to U+FFFD) is at least 0x80, and like any non-ASCII character takes the automaton back to
   * its root (no keyword contains column 0), while ASCII bytes decode to themselves: so the text and
   * its bytes visit the same keyword-relevant states. Stops at the first occurrence. Most source
   * files contain no keyword at all, and this pass over bytes is what tells, at a third less than
   * decoding and scanning the text.
   */
  occursIn(bytes: Uint8Array): boolean {
    const { delta, accepting } = this;
    const n = bytes.length;
    // Two halves at once: each step waits for the previous state's lookup, and two independent
    // chains let the processor overlap them. The second half starts (from the root) early enough
    // that a keyword crossing the middle lies wholly in it: an occurrence that starts before that
    // ends before the middle, in the first half.
    const from = (n >>> 1) - (this.longest - 1);
    const mid = n >>> 1;
    let i = 0;
    let j = from > 0 ? from : 0;
    let a = 0;
    let b = 0;
    if (from > 0) {
      for (; i < mid; i++, j++) {
        const c = bytes[i];
        const d = bytes[j];
        a = delta[(a << 7) | (c < ALPHABET ? c : 0)];
        b = delta[(b << 7) | (d < ALPHABET ? d : 0)];
        if ((accepting[a] | accepting[b]) !== 0) return true;
      }
    }
    for (; j < n; j++) {
      const d = bytes[j];
      b = delta[(b << 7) | (d < ALPHABET ? d : 0)];
      if (accepting[b] !== 0) return true;
    }
    return false;
  }

  /**
   * Calls `onHit(keyword, start)` for every occurrence, in order of where it ends; `start` is the
   * index of the keyword's first character in `text`.
   */
  scan(text: string, onHit: (keyword: number, start: number) => void): void {
    const { delta, outputs, accepting, keywords } = this;
    let state = 0;
    for (let i = 0, n = text.length; i < n; i++) {
      const c = text.charCodeAt(i);
      state = delta[(state << 7) | (c < ALPHABET ? c : 0)];
      if (accepting[state] !== 0) {
        const hits = outputs[state];
        if (hits !== undefined) for (const k of hits) onHit(k, i + 1 - keywords[k].length);
      }
    }
  }
}

/** Lowercases ASCII letters only, as the automaton does (String#toLowerCase folds more than ASCII). */
export function foldAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
