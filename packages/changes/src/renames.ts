/**
 * Rename detection as `git diff -M` does it (diffcore-rename.c, git 2.39), so the change set pairs
 * the same paths git shows:
 *
 * 1. exact renames: a deleted and an added path with the same blob (and, unless both are regular
 *    files, the same mode), preferring an unused source with the same basename;
 * 2. basename matches: a deleted and an added path whose basename is unique on both sides pair up
 *    when at least `score + (100% − score) / 2` similar (75% for the default 50%);
 * 3. the remaining sources × destinations are scored (similarity.ts), each destination keeps its
 *    four best candidates, and pairs are taken best first — unless sources × destinations exceeds
 *    the rename limit squared, when git (and pushgate) stop at exact renames.
 *
 * Only deletions are sources (no copy detection), as with plain -M.
 */
import type { Oid } from '@pushgate/core';
import { S_IFMT, S_IFREG } from '@pushgate/objects';
import type { RenameDetection } from './types';
import type { Pacer } from './pace';
import { MAX_SCORE, SimilarityMatrix, estimateSimilarity, type SimilarityInput } from './similarity';
import type { RawChange } from './trees';

/** A diff after rename detection: changes as they were, and renames replacing a deletion and an addition. */
export type Pair =
  | { readonly kind: 'change'; readonly change: RawChange }
  | { readonly kind: 'rename'; readonly from: RawChange & { readonly old: NonNullable<RawChange['old']> }; readonly to: RawChange & { readonly new: NonNullable<RawChange['new']> }; readonly score: number };

/** Blob facts rename detection needs. */
export interface RenameBlobs {
  /** A blob's similarity input (size, histogram on demand). */
  input(oid: Oid, mode: number): SimilarityInput;
}

/** Options of detectRenames. */
export interface RenameOptions {
  /** git's diff.renameLimit. */
  readonly renameLimit: number;
  /** Minimum similarity in percent (git's -M<n>). */
  readonly renameScore: number;
}

/** The pairs and how far detection went. */
export interface RenameResult {
  readonly pairs: Pair[];
  readonly detection: RenameDetection;
}

const NUM_CANDIDATE_PER_DST = 4;

function isRegular(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}

/** diffcore-rename.c basename_same. */
function basenameSame(a: Buffer, b: Buffer): boolean {
  let i = a.length;
  let j = b.length;
  while (i && j) {
    const c1 = a[--i];
    const c2 = b[--j];
    if (c1 !== c2) return false;
    if (c1 === 0x2f) return true;
  }
  return (!i || a[i - 1] === 0x2f) && (!j || b[j - 1] === 0x2f);
}

function basename(path: Buffer): string {
  const slash = path.lastIndexOf(0x2f);
  return path.toString('latin1', slash + 1);
}

interface Score {
  src: number;
  dst: number;
  score: number;
  nameScore: number;
}

/** diffcore-rename.c score_compare: best first, unused slots last. */
function scoreCompare(a: Score, b: Score): number {
  if (a.dst < 0) return 0 <= b.dst ? 1 : 0;
  if (b.dst < 0) return -1;
  if (a.score === b.score) return b.nameScore - a.nameScore;
  return b.score - a.score;
}

/**
 * The slot diffcore-rename.c record_if_better replaces: the worst of one destination's four best
 * candidates (a candidate goes there when scoreCompare(worst, candidate) > 0).
 */
function worstOf(m: readonly Score[]): number {
  let worst = 0;
  for (let i = 1; i < NUM_CANDIDATE_PER_DST; i++) if (scoreCompare(m[i], m[worst]) > 0) worst = i;
  return worst;
}

/** Pairs deletions with additions that are renames of them. */
export async function detectRenames(changes: readonly RawChange[], blobs: RenameBlobs, options: RenameOptions, pacer: Pacer): Promise<RenameResult> {
  const full: RenameDetection = { kind: 'exact-and-similar' };
  const srcs: number[] = [];
  const dsts: number[] = [];
  changes.forEach((c, i) => {
    if (c.old && !c.new) srcs.push(i);
    else if (c.new && !c.old) dsts.push(i);
  });
  if (srcs.length === 0 || dsts.length === 0) return { pairs: changes.map((change) => ({ kind: 'change', change })), detection: full };

  const minimumScore = Math.floor((options.renameScore * MAX_SCORE) / 100);
  const srcUsed = new Array<boolean>(srcs.length).fill(false);
  const dstMatch = new Array<{ src: number; score: number } | undefined>(dsts.length).fill(undefined);
  const src = (si: number) => changes[srcs[si]];
  const dst = (di: number) => changes[dsts[di]];
  const record = (di: number, si: number, score: number) => {
    dstMatch[di] = { src: si, score };
    srcUsed[si] = true;
  };

  // 1. Exact renames.
  const byOid = new Map<Oid, number[]>();
  srcs.forEach((_, si) => {
    const oid = src(si).old!.oid;
    const list = byOid.get(oid);
    if (list) list.push(si);
    else byOid.set(oid, [si]);
  });
  for (let di = 0; di < dsts.length; di++) {
    const target = dst(di);
    const candidates = byOid.get(target.new!.oid);
    if (!candidates) continue;
    let best = -1;
    let bestScore = -1;
    let tries = 100;
    for (const si of candidates) {
      const source = src(si);
      if ((!isRegular(source.old!.mode) || !isRegular(target.new!.mode)) && source.old!.mode !== target.new!.mode) continue;
      if (srcUsed[si]) continue;
      const score = 1 + (basenameSame(source.path, target.path) ? 1 : 0);
      if (score > bestScore) {
        best = si;
        bestScore = score;
        if (score === 2) break;
      }
      if (!--tries) break;
    }
    if (best >= 0) record(di, best, MAX_SCORE);
  }

  const input = (c: RawChange, side: 'old' | 'new') => blobs.input(c[side]!.oid, c[side]!.mode);

  // 2. Unique basenames.
  let remaining = srcs.map((_, si) => si).filter((si) => !srcUsed[si]);
  const minBasenameScore = minimumScore + Math.floor(0.5 * (MAX_SCORE - minimumScore));
  const srcByBase = new Map<string, number>();
  for (const si of remaining) {
    const b = basename(src(si).path);
    srcByBase.set(b, srcByBase.has(b) ? -1 : si);
  }
  const dstByBase = new Map<string, number>();
  for (let di = 0; di < dsts.length; di++) {
    if (dstMatch[di]) continue;
    const b = basename(dst(di).path);
    dstByBase.set(b, dstByBase.has(b) ? -1 : di);
  }
  for (const si of remaining) {
    const b = basename(src(si).path);
    const di = dstByBase.get(b);
    if (di === undefined) continue;
    if (srcByBase.get(b) === -1 || di === -1) continue;
    if (dstMatch[di]) continue;
    const score = estimateSimilarity(input(src(si), 'old'), input(dst(di), 'new'), minBasenameScore);
    if (score < minBasenameScore) continue;
    record(di, si, score);
    await pacer.tick();
  }
  remaining = remaining.filter((si) => !srcUsed[si]);

  // 3. Everything against everything, within the rename limit.
  let detection: RenameDetection = full;
  const openDsts = dsts.map((_, di) => di).filter((di) => !dstMatch[di]);
  if (openDsts.length > 0 && remaining.length > 0) {
    const limit = options.renameLimit;
    if (limit > 0 && openDsts.length * remaining.length > limit * limit) {
      detection = { kind: 'exact-only', reason: 'rename-limit', sources: remaining.length, destinations: openDsts.length };
    } else {
      const mx: Score[] = [];
      const matrix = new SimilarityMatrix(remaining.map((si) => input(src(si), 'old')));
      const sourcePaths = remaining.map((si) => src(si).path);
      const scores = new Float64Array(remaining.length);
      for (const di of openDsts) {
        const m: Score[] = Array.from({ length: NUM_CANDIDATE_PER_DST }, () => ({ src: -1, dst: -1, score: 0, nameScore: 0 }));
        const targetPath = dst(di).path;
        matrix.scores(input(dst(di), 'new'), minimumScore, scores);
        // record_if_better without a candidate object per pair (sources x destinations can be a
        // million): the worst of the four changes only when one is replaced.
        let worst = worstOf(m);
        for (let k = 0; k < remaining.length; k++) {
          const score = scores[k];
          const w = m[worst];
          if (w.dst >= 0 && score < w.score) continue;
          const nameScore = basenameSame(sourcePaths[k], targetPath) ? 1 : 0;
          if (w.dst >= 0 && score === w.score && nameScore <= w.nameScore) continue;
          m[worst] = { src: remaining[k], dst: di, score, nameScore };
          worst = worstOf(m);
        }
        mx.push(...m);
        await pacer.tick();
      }
      // Array.prototype.sort is stable, as git's STABLE_QSORT.
      mx.sort(scoreCompare);
      for (const s of mx) {
        if (s.dst < 0 || s.score < minimumScore) break;
        if (dstMatch[s.dst]) continue;
        if (srcUsed[s.src]) continue;
        record(s.dst, s.src, s.score);
      }
    }
  }

  // Renames take the destination's place; their sources disappear (git's write-back order).
  const renamedSrc = new Set<number>();
  const renameAt = new Map<number, Pair>();
  dstMatch.forEach((m, di) => {
    if (!m) return;
    renamedSrc.add(srcs[m.src]);
    renameAt.set(dsts[di], {
      kind: 'rename',
      from: src(m.src) as RawChange & { old: NonNullable<RawChange['old']> },
      to: dst(di) as RawChange & { new: NonNullable<RawChange['new']> },
      score: m.score,
    });
  });
  const pairs: Pair[] = [];
  changes.forEach((change, i) => {
    if (renamedSrc.has(i)) return;
    pairs.push(renameAt.get(i) ?? { kind: 'change', change });
  });
  return { pairs, detection };
}
