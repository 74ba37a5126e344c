/**
 * How similar two blobs are, computed exactly as git computes it for rename detection
 * (diffcore-delta.c, diffcore-rename.c estimate_similarity), so pushgate pairs the same renames
 * `git diff -M` shows:
 *
 * - each blob is cut into chunks ending at LF or after 64 bytes (a CR before LF is skipped in
 *   text), each chunk hashed into one of 107927 buckets; a blob is its bucket → byte-count map;
 * - the bytes "copied" from source to destination are, per bucket, the smaller of the counts;
 * - score = copied × 60000 / larger size, where 60000 is 100% (git's MAX_SCORE).
 */

/** git's MAX_SCORE: a similarity of 100%. */
export const MAX_SCORE = 60000;

/** A prime between 2^16 and 2^17 (git's HASHBASE). */
const HASHBASE = 107927;

/** git's buffer_is_binary looks this far for a NUL (xdiff-interface.c FIRST_FEW_BYTES). */
export const BINARY_SNIFF_BYTES = 8000;

/** git's heuristic: a NUL byte among the first 8000 bytes means binary. */
export function isBinary(data: Uint8Array): boolean {
  // Buffer#indexOf is memchr: much faster than a loop over up to 8000 bytes of every blob.
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return (b.length > BINARY_SNIFF_BYTES ? b.subarray(0, BINARY_SNIFF_BYTES) : b).indexOf(0) >= 0;
}

/** A blob's chunk histogram: bucket values ascending, with their byte counts. */
export interface SpanHash {
  readonly keys: Uint32Array;
  readonly counts: Float64Array;
}

/**
 * Byte counts by bucket while one blob is hashed, indexed directly by bucket (buckets are below
 * HASHBASE), with the buckets touched listed aside so that only those are read back and cleared:
 * a Map per blob cost more than the hashing itself on rename-heavy pushes.
 */
const bucketCounts = new Float64Array(HASHBASE);
let touched = new Uint32Array(1024);

/** diffcore-delta.c hash_chars. */
export function hashChars(data: Uint8Array, isText: boolean): SpanHash {
  const counts = bucketCounts;
  const len = data.length;
  let used = 0;
  let accum1 = 0;
  let accum2 = 0;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = data[i];
    const old1 = accum1;
    if (isText && c === 13 && i + 1 < len && data[i + 1] === 10) continue;
    accum1 = ((accum1 << 7) ^ (accum2 >>> 25)) >>> 0;
    accum2 = ((accum2 << 7) ^ (old1 >>> 25)) >>> 0;
    accum1 = (accum1 + c) >>> 0;
    if (++n < 64 && c !== 10) continue;
    const h = ((accum1 + Math.imul(accum2, 0x61)) >>> 0) % HASHBASE;
    if (counts[h] === 0) {
      if (used === touched.length) {
        const grown = new Uint32Array(touched.length * 2);
        grown.set(touched);
        touched = grown;
      }
      touched[used++] = h;
    }
    counts[h] += n;
    n = 0;
    accum1 = 0;
    accum2 = 0;
  }
  // A last chunk with no LF is not counted: git 2.39 drops it too (checked in similarity.test.ts).
  const keys = touched.slice(0, used).sort();
  const out = new Float64Array(used);
  for (let i = 0; i < used; i++) {
    out[i] = counts[keys[i]];
    counts[keys[i]] = 0;
  }
  return { keys, counts: out };
}

/** diffcore-delta.c diffcore_count_changes: bytes of `dst` copied from `src`. */
export function srcCopied(src: SpanHash, dst: SpanHash): number {
  let s = 0;
  let d = 0;
  let sc = 0;
  const ns = src.keys.length;
  const nd = dst.keys.length;
  while (s < ns) {
    const sk = src.keys[s];
    while (d < nd && dst.keys[d] < sk) d++;
    const srcCnt = src.counts[s];
    let dstCnt = 0;
    if (d < nd && dst.keys[d] === sk) {
      dstCnt = dst.counts[d];
      d++;
    }
    sc += srcCnt < dstCnt ? srcCnt : dstCnt;
    s++;
  }
  return sc;
}

/** A rename candidate: a regular file or not, its size, and its histogram on demand. */
export interface SimilarityInput {
  readonly regular: boolean;
  readonly size: number;
  /** The histogram (computed once per blob by the caller's cache); undefined when unavailable. */
  spans(): SpanHash | undefined;
}

/** diffcore-rename.c estimate_similarity: 0..MAX_SCORE. */
export function estimateSimilarity(src: SimilarityInput, dst: SimilarityInput, minimumScore: number): number {
  // Only regular files are renamed with edits; symlinks and submodules only when identical.
  if (!src.regular || !dst.regular) return 0;
  const max = Math.max(src.size, dst.size);
  const base = Math.min(src.size, dst.size);
  const delta = max - base;
  // Edits that change the size this much cannot reach the minimum score.
  if (max * (MAX_SCORE - minimumScore) < delta * MAX_SCORE) return 0;
  const s = src.spans();
  const d = dst.spans();
  if (!s || !d) return 0;
  if (dst.size === 0) return 0;
  return Math.floor((srcCopied(s, d) * MAX_SCORE) / max);
}

/**
 * estimateSimilarity of many sources against one destination at a time, for rename detection's
 * sources × destinations matrix (up to renameLimit², a million pairs). Instead of merging two
 * histograms per pair, the sources' histograms are indexed by bucket, and a destination's buckets
 * collect every source's copied bytes in one pass: the same sums (integers, so in any order),
 * the same scores. Histograms are computed when a pair first needs them, as per pair.
 */
export class SimilarityMatrix {
  /** Bucket → [source, count, source, count, ...] of the sources indexed so far. */
  private readonly postings = new Map<number, number[]>();
  private readonly indexed: Uint8Array;
  private readonly hasSpans: Uint8Array;
  private readonly copied: Float64Array;
  /** The sources that pass the size check for the destination at hand. */
  private readonly passing: Int32Array;

  constructor(private readonly sources: readonly SimilarityInput[]) {
    this.indexed = new Uint8Array(sources.length);
    this.hasSpans = new Uint8Array(sources.length);
    this.copied = new Float64Array(sources.length);
    this.passing = new Int32Array(sources.length);
  }

  /** Writes estimateSimilarity(sources[k], dst, minimumScore) into out[k] for every source k. */
  scores(dst: SimilarityInput, minimumScore: number, out: Float64Array): void {
    out.fill(0);
    if (!dst.regular) return;
    const { sources, passing } = this;
    let passed = 0;
    for (let k = 0; k < sources.length; k++) {
      const src = sources[k];
      if (!src.regular) continue;
      const max = Math.max(src.size, dst.size);
      const delta = max - Math.min(src.size, dst.size);
      if (max * (MAX_SCORE - minimumScore) < delta * MAX_SCORE) continue;
      passing[passed++] = k;
    }
    if (passed === 0) return;
    for (let p = 0; p < passed; p++) if (!this.indexed[passing[p]]) this.index(passing[p]);
    const d = dst.spans();
    if (!d || dst.size === 0) return;
    const copied = this.copied;
    copied.fill(0);
    for (let j = 0; j < d.keys.length; j++) {
      const list = this.postings.get(d.keys[j]);
      if (!list) continue;
      const dstCnt = d.counts[j];
      for (let i = 0; i < list.length; i += 2) copied[list[i]] += list[i + 1] < dstCnt ? list[i + 1] : dstCnt;
    }
    for (let p = 0; p < passed; p++) {
      const k = passing[p];
      if (!this.hasSpans[k]) continue;
      out[k] = Math.floor((copied[k] * MAX_SCORE) / Math.max(sources[k].size, dst.size));
    }
  }

  private index(k: number): void {
    this.indexed[k] = 1;
    const s = this.sources[k].spans();
    if (!s) return;
    this.hasSpans[k] = 1;
    for (let i = 0; i < s.keys.length; i++) {
      const list = this.postings.get(s.keys[i]);
      if (list) list.push(k, s.counts[i]);
      else this.postings.set(s.keys[i], [k, s.counts[i]]);
    }
  }
}
