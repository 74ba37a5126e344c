/**
 * Sliding change groups to where a reader expects them, as git does after every diff
 * (xdiff/xdiffi.c: xdl_change_compact, with the indent heuristic that is on by default since
 * git 2.14, diff.indentHeuristic).
 *
 * A run of changed lines can often move up or down without changing the diff's meaning (adding
 * "}\n\nint g()\n{\n...}\n" after a function can also be read as adding "\nint g()\n{\n...}\n}"
 * inside it). Each group is slid up and down as far as it goes, merging with neighbours it
 * touches; then it is lined up with a group of the other side where it can be, else put where
 * the split lines score best by blank lines and indentation (git's measure_split and
 * score_add_split, with its constants). This moves no line in or out of the diff: only which
 * copies of repeated lines are the changed ones.
 */
import { InternalError } from '@pushgate/core';

/** One side of a diff: its bytes, line starts (plus its length) and changed marks. */
export interface CompactSide {
  readonly buf: Uint8Array;
  readonly starts: Int32Array;
  /** One mark per line with a 0 either side: line i is changed when change[i + 1] is 1. */
  readonly change: Uint8Array;
}

const MAX_INDENT = 200;
const MAX_BLANKS = 20;
const START_OF_FILE_PENALTY = 1;
const END_OF_FILE_PENALTY = 21;
const TOTAL_BLANK_WEIGHT = -30;
const POST_BLANK_WEIGHT = 6;
const RELATIVE_INDENT_PENALTY = -4;
const RELATIVE_INDENT_WITH_BLANK_PENALTY = 10;
const RELATIVE_OUTDENT_PENALTY = 24;
const RELATIVE_OUTDENT_WITH_BLANK_PENALTY = 17;
const RELATIVE_DEDENT_PENALTY = 23;
const RELATIVE_DEDENT_WITH_BLANK_PENALTY = 17;
const INDENT_WEIGHT = 60;
const INDENT_HEURISTIC_MAX_SLIDING = 100;

/** Slides the groups of `side` (git runs it once for each side, the other side kept in step). */
export function compactChanges(side: CompactSide, other: CompactSide): void {
  const xdf = side;
  const n = side.starts.length - 1;
  const rchg = side.change;
  const orchg = other.change;
  const on = other.starts.length - 1;
  // Groups as [start, end) line indices; rchg is read at index + 1.
  let gs = 0;
  let ge = 0;
  while (rchg[ge + 1]) ge++;
  let os = 0;
  let oe = 0;
  while (orchg[oe + 1]) oe++;

  const slideDown = (): boolean => {
    if (ge < n && same(xdf, gs, ge)) {
      rchg[gs++ + 1] = 0;
      rchg[ge++ + 1] = 1;
      while (rchg[ge + 1]) ge++;
      return true;
    }
    return false;
  };
  const slideUp = (): boolean => {
    if (gs > 0 && same(xdf, gs - 1, ge - 1)) {
      rchg[--gs + 1] = 1;
      rchg[--ge + 1] = 0;
      while (rchg[gs]) gs--;
      return true;
    }
    return false;
  };
  const otherNext = (): void => {
    if (oe === on) throw new InternalError('line diff groups out of step');
    os = oe + 1;
    for (oe = os; orchg[oe + 1]; oe++);
  };
  const otherPrevious = (): void => {
    if (os === 0) throw new InternalError('line diff groups out of step');
    oe = os - 1;
    for (os = oe; orchg[os]; os--);
  };

  for (;;) {
    if (ge !== gs) {
      let groupSize: number;
      let earliestEnd: number;
      let endMatchingOther: number;
      do {
        groupSize = ge - gs;
        endMatchingOther = -1;
        while (slideUp()) otherPrevious();
        earliestEnd = ge;
        if (oe > os) endMatchingOther = ge;
        while (slideDown()) {
          otherNext();
          if (oe > os) endMatchingOther = ge;
        }
      } while (groupSize !== ge - gs);

      if (ge === earliestEnd) {
        // It cannot move.
      } else if (endMatchingOther !== -1) {
        while (oe === os) {
          slideUp();
          otherPrevious();
        }
      } else {
        let shift = Math.max(earliestEnd, ge - groupSize - 1, ge - INDENT_HEURISTIC_MAX_SLIDING);
        let bestShift = -1;
        let bestIndent = 0;
        let bestPenalty = 0;
        for (; shift <= ge; shift++) {
          score.indent = 0;
          score.penalty = 0;
          scoreSplit(xdf, n, shift);
          scoreSplit(xdf, n, shift - groupSize);
          const cmp = INDENT_WEIGHT * Math.sign(score.indent - bestIndent) + (score.penalty - bestPenalty);
          if (bestShift === -1 || cmp <= 0) {
            bestIndent = score.indent;
            bestPenalty = score.penalty;
            bestShift = shift;
          }
        }
        while (ge > bestShift) {
          slideUp();
          otherPrevious();
        }
      }
    }
    if (ge === n) break;
    gs = ge + 1;
    for (ge = gs; rchg[ge + 1]; ge++);
    otherNext();
  }
}

/** Whether lines i and j of a side have the same bytes. */
function same(side: CompactSide, i: number, j: number): boolean {
  const { buf, starts } = side;
  const si = starts[i];
  const sj = starts[j];
  const len = starts[i + 1] - si;
  if (starts[j + 1] - sj !== len) return false;
  for (let k = 0; k < len; k++) if (buf[si + k] !== buf[sj + k]) return false;
  return true;
}

/** git's get_indent: columns of leading space (tabs to multiples of 8), or -1 for a blank line. */
function indentOf(side: CompactSide, line: number): number {
  const { buf, starts } = side;
  let ret = 0;
  for (let i = starts[line]; i < starts[line + 1]; i++) {
    const c = buf[i];
    if (c === 0x20) ret += 1;
    else if (c === 0x09) ret += 8 - (ret % 8);
    else if (c !== 0x0a && c !== 0x0b && c !== 0x0c && c !== 0x0d) return ret;
    if (ret >= MAX_INDENT) return MAX_INDENT;
  }
  return -1;
}

const score = { indent: 0, penalty: 0 };

/** git's measure_split and score_add_split for a split before line `split`, added to `score`. */
function scoreSplit(side: CompactSide, n: number, split: number): void {
  const endOfFile = split >= n;
  const indent0 = endOfFile ? -1 : indentOf(side, split);
  let preBlank = 0;
  let preIndent = -1;
  for (let i = split - 1; i >= 0; i--) {
    preIndent = indentOf(side, i);
    if (preIndent !== -1) break;
    preBlank++;
    if (preBlank === MAX_BLANKS) {
      preIndent = 0;
      break;
    }
  }
  let postBlankRun = 0;
  let postIndent = -1;
  for (let i = split + 1; i < n; i++) {
    postIndent = indentOf(side, i);
    if (postIndent !== -1) break;
    postBlankRun++;
    if (postBlankRun === MAX_BLANKS) {
      postIndent = 0;
      break;
    }
  }

  if (preIndent === -1 && preBlank === 0) score.penalty += START_OF_FILE_PENALTY;
  if (endOfFile) score.penalty += END_OF_FILE_PENALTY;
  const postBlank = indent0 === -1 ? 1 + postBlankRun : 0;
  const totalBlank = preBlank + postBlank;
  score.penalty += TOTAL_BLANK_WEIGHT * totalBlank;
  score.penalty += POST_BLANK_WEIGHT * postBlank;
  const indent = indent0 !== -1 ? indent0 : postIndent;
  const anyBlanks = totalBlank !== 0;
  score.indent += indent;
  if (indent === -1 || preIndent === -1) {
    // Nothing to compare with.
  } else if (indent > preIndent) {
    score.penalty += anyBlanks ? RELATIVE_INDENT_WITH_BLANK_PENALTY : RELATIVE_INDENT_PENALTY;
  } else if (indent === preIndent) {
    // Same level.
  } else if (postIndent !== -1 && postIndent > indent) {
    score.penalty += anyBlanks ? RELATIVE_OUTDENT_WITH_BLANK_PENALTY : RELATIVE_OUTDENT_PENALTY;
  } else {
    score.penalty += anyBlanks ? RELATIVE_DEDENT_WITH_BLANK_PENALTY : RELATIVE_DEDENT_PENALTY;
  }
}
