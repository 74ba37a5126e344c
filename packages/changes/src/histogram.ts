/**
 * Histogram diff over interned lines, as git's xdiff does it (xdiff/xhistogram.c), with git's
 * fallback to Myers (xdiff/xdiffi.c: xdl_recs_cmp, xdl_split) and a bound on work.
 *
 * Lines are integer ids (equal ids, equal lines). The histogram pass counts each line's
 * occurrences in the old region, then for each new line that occurs there tries every
 * occurrence (git: try_lcs), extending the match both ways; the longest run, or a run of rarer
 * lines, becomes the anchor, and the regions either side of it are diffed the same way. A region
 * whose only shared lines each occur more than 64 times in the old side (git's
 * MAX_CHAIN_LENGTH) goes to Myers, as git's fall_back_to_classic_diff does: lines found nowhere
 * on the other side are dropped first (the part of xprepare.c's xdl_cleanup_records that cannot
 * change the result), then xdl_split's middle snake with its cost heuristics (XDL_SNAKE_CNT,
 * XDL_HEUR_MIN_COST, XDL_MAX_COST_MIN and mxcost = sqrt of the diagonals), which give a
 * near-minimal split instead of a quadratic search.
 *
 * Every step (a line scanned, a comparison, a diagonal visited) counts against `maxWork`. Once it
 * is spent, each region not yet diffed is marked all removed then all added: coarser, still a
 * correct diff. Regions go on an explicit stack (their order does not matter, only which lines
 * change), so a long chain of anchors cannot overflow the call stack.
 *
 * The answer is git's `rchg`: one byte per line of each side, 1 where the line is changed.
 */

/** git's MAX_CHAIN_LENGTH (xhistogram.c): lines occurring more often than this are no anchor. */
const MAX_CHAIN_LENGTH = 64;
/** xdiffi.c: XDL_SNAKE_CNT, XDL_K_HEUR, XDL_HEUR_MIN_COST, XDL_MAX_COST_MIN. */
const SNAKE_CNT = 20;
const K_HEUR = 4;
const HEUR_MIN_COST = 256;
const MAX_COST_MIN = 256;
const LINE_MAX = 0x7fffffff;

/** Where a diff's work stands: steps left, and whether some region was replaced coarsely. */
export interface WorkBudget {
  left: number;
  coarse: boolean;
}

/** Scratch grown on demand and shared by diffs (they are synchronous and copy their answer out). */
let stamp = 0;
let stampOf = new Int32Array(0);
let countOf = new Int32Array(0);
let firstOf = new Int32Array(0);
let nextPtr = new Int32Array(0);
let seenB = new Int32Array(0);

function ensureIds(ids: number): void {
  if (stampOf.length < ids || stamp > 0x7ffffff0) {
    const n = Math.max(ids, stampOf.length < ids ? stampOf.length * 2 : stampOf.length, 1024);
    stampOf = new Int32Array(n);
    countOf = new Int32Array(n);
    firstOf = new Int32Array(n);
    seenB = new Int32Array(n);
    stamp = 0;
  }
}

/**
 * Marks in `changeA`/`changeB` the lines of `a` and `b` (line ids below `ids`) that a histogram
 * diff finds changed, spending `budget`.
 */
export function histogramDiff(a: Int32Array, b: Int32Array, ids: number, changeA: Uint8Array, changeB: Uint8Array, budget: WorkBudget): void {
  ensureIds(ids);
  if (nextPtr.length < a.length) nextPtr = new Int32Array(Math.max(a.length, nextPtr.length * 2));
  const stack: number[] = [0, a.length, 0, b.length];
  while (stack.length > 0) {
    const c2 = stack.pop()!;
    const l2 = stack.pop()!;
    const c1 = stack.pop()!;
    const l1 = stack.pop()!;
    if (c1 === 0 || c2 === 0) {
      changeA.fill(1, l1, l1 + c1);
      changeB.fill(1, l2, l2 + c2);
      continue;
    }
    if (budget.left <= 0) {
      coarse(changeA, l1, c1, changeB, l2, c2, budget);
      continue;
    }
    const found = findLcs(a, l1, c1, b, l2, c2, budget);
    if (found === LCS_NONE) {
      changeA.fill(1, l1, l1 + c1);
      changeB.fill(1, l2, l2 + c2);
    } else if (found === LCS_FALL_BACK) {
      myers(a, l1, l1 + c1, b, l2, l2 + c2, changeA, changeB, budget);
    } else if (found === LCS_OVER_BUDGET) {
      coarse(changeA, l1, c1, changeB, l2, c2, budget);
    } else {
      stack.push(l1, lcsBegin1 - l1, l2, lcsBegin2 - l2);
      stack.push(lcsEnd1 + 1, l1 + c1 - lcsEnd1 - 1, lcsEnd2 + 1, l2 + c2 - lcsEnd2 - 1);
    }
  }
}

function coarse(changeA: Uint8Array, l1: number, c1: number, changeB: Uint8Array, l2: number, c2: number, budget: WorkBudget): void {
  changeA.fill(1, l1, l1 + c1);
  changeB.fill(1, l2, l2 + c2);
  budget.coarse = true;
}

/** findLcs's answers besides LCS_FOUND (the anchor is in lcsBegin1..lcsEnd2, inclusive). */
const LCS_FOUND = 0;
const LCS_NONE = 1;
const LCS_FALL_BACK = 2;
const LCS_OVER_BUDGET = 3;
let lcsBegin1 = 0;
let lcsEnd1 = 0;
let lcsBegin2 = 0;
let lcsEnd2 = 0;

/** git's find_lcs over a[l1, l1 + c1) and b[l2, l2 + c2), with scanA and try_lcs inlined. */
function findLcs(a: Int32Array, l1: number, c1: number, b: Int32Array, l2: number, c2: number, budget: WorkBudget): number {
  const s = ++stamp;
  const end1 = l1 + c1 - 1;
  const end2 = l2 + c2 - 1;
  // scanA: from the end, so each id's first occurrence heads a chain in line order.
  for (let ptr = end1; ptr >= l1; ptr--) {
    const id = a[ptr];
    if (stampOf[id] === s) {
      nextPtr[ptr] = firstOf[id];
      firstOf[id] = ptr;
      if (countOf[id] < 0x7fff) countOf[id]++;
    } else {
      stampOf[id] = s;
      countOf[id] = 1;
      firstOf[id] = ptr;
      nextPtr[ptr] = -1;
    }
  }
  let work = c1;
  let found = false;
  let hasCommon = false;
  let bestCount = MAX_CHAIN_LENGTH + 1;
  let bestLength = 0;
  for (let bPtr = l2; bPtr <= end2; ) {
    let bNext = bPtr + 1;
    const id = b[bPtr];
    work++;
    if (stampOf[id] === s) {
      hasCommon = true;
      const count = countOf[id];
      if (count <= bestCount) {
        let as = firstOf[id];
        for (;;) {
          let np = nextPtr[as];
          let bs = bPtr;
          let ae = as;
          let be = bs;
          let rc = count;
          while (l1 < as && l2 < bs && a[as - 1] === b[bs - 1]) {
            as--;
            bs--;
            if (rc > 1) rc = Math.min(rc, countOf[a[as]]);
          }
          while (ae < end1 && be < end2 && a[ae + 1] === b[be + 1]) {
            ae++;
            be++;
            if (rc > 1) rc = Math.min(rc, countOf[a[ae]]);
          }
          work += ae - as + 1;
          if (bNext <= be) bNext = be + 1;
          if (bestLength < ae - as || rc < bestCount) {
            found = true;
            lcsBegin1 = as;
            lcsBegin2 = bs;
            lcsEnd1 = ae;
            lcsEnd2 = be;
            bestLength = ae - as;
            bestCount = rc;
          }
          while (np !== -1 && np <= ae) np = nextPtr[np];
          if (np === -1) break;
          as = np;
        }
      }
      if (work > budget.left) {
        budget.left = 0;
        return LCS_OVER_BUDGET;
      }
    }
    bPtr = bNext;
  }
  budget.left -= work;
  if (hasCommon && bestCount > MAX_CHAIN_LENGTH) return LCS_FALL_BACK;
  return found ? LCS_FOUND : LCS_NONE;
}

/** Scratch for myers: the kept lines' ids and their indices, and the diagonals. */
let keptA = new Int32Array(0);
let keptB = new Int32Array(0);
let indexA = new Int32Array(0);
let indexB = new Int32Array(0);
let diagonals = new Int32Array(0);

/**
 * git's Myers (xdl_do_diff after xdl_prepare_env) over a[o1, e1) and b[o2, e2): lines with no
 * match on the other side are changed outright, the rest go through xdl_recs_cmp.
 */
function myers(a: Int32Array, o1: number, e1: number, b: Int32Array, o2: number, e2: number, changeA: Uint8Array, changeB: Uint8Array, budget: WorkBudget): void {
  const sa = ++stamp;
  const sb = ++stamp;
  for (let i = o1; i < e1; i++) stampOf[a[i]] = sa;
  for (let j = o2; j < e2; j++) seenB[b[j]] = sb;
  if (keptA.length < e1 - o1) {
    keptA = new Int32Array(e1 - o1);
    indexA = new Int32Array(e1 - o1);
  }
  if (keptB.length < e2 - o2) {
    keptB = new Int32Array(e2 - o2);
    indexB = new Int32Array(e2 - o2);
  }
  let n1 = 0;
  for (let i = o1; i < e1; i++) {
    if (seenB[a[i]] === sb) {
      keptA[n1] = a[i];
      indexA[n1++] = i;
    } else changeA[i] = 1;
  }
  let n2 = 0;
  for (let j = o2; j < e2; j++) {
    if (stampOf[b[j]] === sa) {
      keptB[n2] = b[j];
      indexB[n2++] = j;
    } else changeB[j] = 1;
  }
  budget.left -= e1 - o1 + e2 - o2;
  const ndiags = n1 + n2 + 3;
  if (diagonals.length < 2 * ndiags + 2) diagonals = new Int32Array(2 * ndiags + 2);
  const env: SplitEnv = {
    ha1: keptA,
    ha2: keptB,
    fbase: n2 + 1,
    bbase: ndiags + n2 + 1,
    mxcost: Math.max(MAX_COST_MIN, bogoSqrt(ndiags)),
    budget,
  };
  const stack: number[] = [0, n1, 0, n2, 0];
  while (stack.length > 0) {
    const needMin = stack.pop()!;
    let lim2 = stack.pop()!;
    let off2 = stack.pop()!;
    let lim1 = stack.pop()!;
    let off1 = stack.pop()!;
    // Shrink the box by the snakes at either end (xdl_recs_cmp).
    while (off1 < lim1 && off2 < lim2 && keptA[off1] === keptB[off2]) {
      off1++;
      off2++;
    }
    while (off1 < lim1 && off2 < lim2 && keptA[lim1 - 1] === keptB[lim2 - 1]) {
      lim1--;
      lim2--;
    }
    if (off1 === lim1 || off2 === lim2 || budget.left <= 0) {
      if (off1 < lim1 && off2 < lim2) budget.coarse = true;
      for (let i = off1; i < lim1; i++) changeA[indexA[i]] = 1;
      for (let j = off2; j < lim2; j++) changeB[indexB[j]] = 1;
      continue;
    }
    if (!split(env, off1, lim1, off2, lim2, needMin === 1)) {
      budget.coarse = true;
      for (let i = off1; i < lim1; i++) changeA[indexA[i]] = 1;
      for (let j = off2; j < lim2; j++) changeB[indexB[j]] = 1;
      continue;
    }
    const { i1, i2, minLo, minHi } = splitAt;
    stack.push(off1, i1, off2, i2, minLo ? 1 : 0);
    stack.push(i1, lim1, i2, lim2, minHi ? 1 : 0);
  }
}

/** xdiff's xdl_bogosqrt: a power of two near the square root. */
function bogoSqrt(n: number): number {
  let i = 1;
  while (n > 0) {
    i <<= 1;
    n >>= 2;
  }
  return i;
}

interface SplitEnv {
  readonly ha1: Int32Array;
  readonly ha2: Int32Array;
  /** Offsets of diagonal 0 in `kv` for the forward and the backward paths. */
  readonly fbase: number;
  readonly bbase: number;
  readonly mxcost: number;
  readonly budget: WorkBudget;
}

/** split's answer (xdpsplit_t). */
const splitAt = { i1: 0, i2: 0, minLo: true, minHi: true };

/**
 * git's xdl_split: the middle snake of the box, or, past its cost heuristics, a good-enough
 * split point; false when the work budget ran out first.
 */
function split(env: SplitEnv, off1: number, lim1: number, off2: number, lim2: number, needMin: boolean): boolean {
  const { ha1, ha2, fbase: F, bbase: B, mxcost, budget } = env;
  const kv = diagonals;
  const dmin = off1 - lim2;
  const dmax = lim1 - off2;
  const fmid = off1 - off2;
  const bmid = lim1 - lim2;
  const odd = ((fmid - bmid) & 1) !== 0;
  let fmin = fmid;
  let fmax = fmid;
  let bmin = bmid;
  let bmax = bmid;
  kv[F + fmid] = off1;
  kv[B + bmid] = lim1;
  let work = 0;
  for (let ec = 1; ; ec++) {
    let gotSnake = false;
    if (fmin > dmin) kv[F + --fmin - 1] = -1;
    else ++fmin;
    if (fmax < dmax) kv[F + ++fmax + 1] = -1;
    else --fmax;
    for (let d = fmax; d >= fmin; d -= 2) {
      let i1 = kv[F + d - 1] >= kv[F + d + 1] ? kv[F + d - 1] + 1 : kv[F + d + 1];
      const prev1 = i1;
      let i2 = i1 - d;
      while (i1 < lim1 && i2 < lim2 && ha1[i1] === ha2[i2]) {
        i1++;
        i2++;
      }
      work += 1 + i1 - prev1;
      if (i1 - prev1 > SNAKE_CNT) gotSnake = true;
      kv[F + d] = i1;
      if (odd && bmin <= d && d <= bmax && kv[B + d] <= i1) {
        return splitFound(budget, work, i1, i2, true, true);
      }
    }
    if (bmin > dmin) kv[B + --bmin - 1] = LINE_MAX;
    else ++bmin;
    if (bmax < dmax) kv[B + ++bmax + 1] = LINE_MAX;
    else --bmax;
    for (let d = bmax; d >= bmin; d -= 2) {
      let i1 = kv[B + d - 1] < kv[B + d + 1] ? kv[B + d - 1] : kv[B + d + 1] - 1;
      const prev1 = i1;
      let i2 = i1 - d;
      while (i1 > off1 && i2 > off2 && ha1[i1 - 1] === ha2[i2 - 1]) {
        i1--;
        i2--;
      }
      work += 1 + prev1 - i1;
      if (prev1 - i1 > SNAKE_CNT) gotSnake = true;
      kv[B + d] = i1;
      if (!odd && fmin <= d && d <= fmax && i1 <= kv[F + d]) {
        return splitFound(budget, work, i1, i2, true, true);
      }
    }
    if (work > budget.left) {
      budget.left = 0;
      return false;
    }
    if (needMin) continue;

    // A long snake far enough along: split there rather than look for the middle one.
    if (gotSnake && ec > HEUR_MIN_COST) {
      let best = 0;
      for (let d = fmax; d >= fmin; d -= 2) {
        const dd = d > fmid ? d - fmid : fmid - d;
        const i1 = kv[F + d];
        const i2 = i1 - d;
        const v = i1 - off1 + (i2 - off2) - dd;
        if (v > K_HEUR * ec && v > best && off1 + SNAKE_CNT <= i1 && i1 < lim1 && off2 + SNAKE_CNT <= i2 && i2 < lim2) {
          for (let k = 1; ha1[i1 - k] === ha2[i2 - k]; k++) {
            if (k === SNAKE_CNT) {
              best = v;
              splitAt.i1 = i1;
              splitAt.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) return splitFound(budget, work, splitAt.i1, splitAt.i2, true, false);
      for (let d = bmax; d >= bmin; d -= 2) {
        const dd = d > bmid ? d - bmid : bmid - d;
        const i1 = kv[B + d];
        const i2 = i1 - d;
        const v = lim1 - i1 + (lim2 - i2) - dd;
        if (v > K_HEUR * ec && v > best && off1 < i1 && i1 <= lim1 - SNAKE_CNT && off2 < i2 && i2 <= lim2 - SNAKE_CNT) {
          for (let k = 0; ha1[i1 + k] === ha2[i2 + k]; k++) {
            if (k === SNAKE_CNT - 1) {
              best = v;
              splitAt.i1 = i1;
              splitAt.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) return splitFound(budget, work, splitAt.i1, splitAt.i2, false, true);
    }

    // Too costly to find the middle snake: split at the furthest-reaching path.
    if (ec >= mxcost) {
      let fbest = -1;
      let fbest1 = -1;
      for (let d = fmax; d >= fmin; d -= 2) {
        let i1 = Math.min(kv[F + d], lim1);
        let i2 = i1 - d;
        if (lim2 < i2) {
          i1 = lim2 + d;
          i2 = lim2;
        }
        if (fbest < i1 + i2) {
          fbest = i1 + i2;
          fbest1 = i1;
        }
      }
      let bbest = LINE_MAX;
      let bbest1 = LINE_MAX;
      for (let d = bmax; d >= bmin; d -= 2) {
        let i1 = Math.max(off1, kv[B + d]);
        let i2 = i1 - d;
        if (i2 < off2) {
          i1 = off2 + d;
          i2 = off2;
        }
        if (i1 + i2 < bbest) {
          bbest = i1 + i2;
          bbest1 = i1;
        }
      }
      if (lim1 + lim2 - bbest < fbest - (off1 + off2)) return splitFound(budget, work, fbest1, fbest - fbest1, true, false);
      return splitFound(budget, work, bbest1, bbest - bbest1, false, true);
    }
  }
}

function splitFound(budget: WorkBudget, work: number, i1: number, i2: number, minLo: boolean, minHi: boolean): true {
  budget.left -= work;
  splitAt.i1 = i1;
  splitAt.i2 = i2;
  splitAt.minLo = minLo;
  splitAt.minHi = minHi;
  return true;
}
