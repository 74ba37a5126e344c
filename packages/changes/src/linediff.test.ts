import { describe, expect, it } from '@jest/globals';
import { applyPatch, structuredPatch } from 'diff';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addedFileDiff, countLines, lineDiff, type LineDiff, type LineDiffOptions } from './linediff';
import { sourceEdits } from './source-edits.test-support';
import type { AddedLine, DiffHunk } from './types';

// A histogram diff is not jsdiff's Myers diff: the hunks are checked for what any correct diff
// must satisfy (they turn the old text into the new one, and say so consistently), and their
// line counts against git's own histogram diff.

const lineArb = fc.constantFrom('a\n', 'b\n', 'c\n', 'x', 'dup\n', '\n', '}\n', 'r\r\n', 'r\r', '\r\n');
const text = fc.array(lineArb, { maxLength: 40 }).map((xs) => xs.join(''));
/** A text and an edit of it, so both sides share most lines as real edits do. */
const pair = fc
  .tuple(
    fc.array(lineArb, { maxLength: 40 }),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.array(lineArb, { maxLength: 4 })), { maxLength: 5 }),
  )
  .map(([lines, edits]) => {
    const b = [...lines];
    for (const [at, remove, insert] of edits) b.splice(at % (b.length + 1), remove, ...insert);
    return [lines.join(''), b.join('')] as const;
  });
const texts = fc.oneof(fc.tuple(text, text), pair);

/** Applies hunks with jsdiff, which checks every context and removed line against `a`. */
function apply(a: string, hunks: readonly DiffHunk[]): string | false {
  return applyPatch(a, { oldFileName: 'a', newFileName: 'b', oldHeader: undefined, newHeader: undefined, hunks: hunks.map((h) => ({ ...h, lines: [...h.lines] })) }, { autoConvertLineEndings: false });
}

const signed = (hunks: readonly DiffHunk[], sign: string) => hunks.reduce((n, h) => n + h.lines.filter((l) => l.startsWith(sign)).length, 0);

/** The '+' lines of hunks with their numbers in the new file. */
function plusLines(hunks: readonly DiffHunk[]): AddedLine[] {
  const out: AddedLine[] = [];
  for (const h of hunks) {
    let n = h.newStart;
    for (const l of h.lines) {
      if (l.startsWith('+')) out.push({ line: n++, text: l.slice(1) });
      else if (l.startsWith(' ')) n++;
    }
  }
  return out;
}

/** The change set's count of diff text: each hunk line's length + 1, each added line's + 8. */
const counted = (d: LineDiff) => d.hunks().reduce((n, h) => n + h.lines.reduce((m, l) => m + l.length + 1, 0), 0) + d.addedLines().reduce((n, l) => n + l.text.length + 8, 0);

/** Everything a diff of `a` to `b` must satisfy, whichever algorithm made it. */
function expectConsistent(a: string, b: string, d: LineDiff): void {
  const hunks = d.hunks();
  if (a === b) expect(hunks).toEqual([]);
  else expect(apply(a, hunks)).toBe(b);
  expect(d.added).toBe(signed(hunks, '+'));
  expect(d.removed).toBe(signed(hunks, '-'));
  expect(d.addedLines()).toEqual(plusLines(hunks));
  expect(d.bytes).toBe(counted(d));
}

const diffText = (a: string, b: string, options?: LineDiffOptions) => lineDiff(Buffer.from(a), Buffer.from(b), options);

describe('lineDiff', () => {
  it('gives hunks that turn the old text into the new one, with counts, added lines and size to match', () => {
    fc.assert(
      fc.property(texts, fc.integer({ min: 0, max: 4 }), ([a, b], context) => {
        const d = diffText(a, b, { context });
        expectConsistent(a, b, d);
        expect(d.coarse).toBe(false);
        // A line is changed on both sides at most once: no more than a whole replacement.
        expect(d.removed).toBeLessThanOrEqual(countLines(Buffer.from(a)));
        expect(d.added).toBeLessThanOrEqual(countLines(Buffer.from(b)));
      }),
      { numRuns: 4000 },
    );
  });

  it('stays correct with a tiny work bound, and says when it replaced a region coarsely', () => {
    fc.assert(
      fc.property(texts, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 }), ([a, b], context, maxWork) => {
        const bounded = diffText(a, b, { context, maxWork });
        expectConsistent(a, b, bounded);
        const full = diffText(a, b, { context });
        // Cut short, a diff can only be coarser; not cut short, it is the full one.
        if (bounded.coarse) expect(bounded.added).toBeGreaterThanOrEqual(full.added);
        else expect(bounded.hunks()).toEqual(full.hunks());
      }),
      { numRuns: 3000 },
    );
    const coarse = diffText('a\nb\nc\nd\n', 'b\nx\nd\ny\n', { maxWork: 0 });
    expect(coarse.coarse).toBe(true);
    expect([coarse.removed, coarse.added]).toEqual([4, 4]);
    // Only insertions (nothing to search) need no work at all.
    expect(diffText('a\nb\n', 'a\nnew\nb\n', { maxWork: 0 }).coarse).toBe(false);
  });

  it('decodes bytes that are not UTF-8 as Buffer does (U+FFFD), and compares lines by their bytes', () => {
    const bytes = fc.array(fc.constantFrom([0x61], [0x0a], [0xff], [0xc3], [0xc3, 0xa9], [0x0d, 0x0a], [0xe2, 0x82, 0xac], [0xe2, 0x82], [0x80], [0x62, 0x0a]), { maxLength: 40 }).map((xs) => Buffer.from(xs.flat()));
    fc.assert(
      fc.property(bytes, bytes, fc.integer({ min: 0, max: 3 }), (a, b, context) => {
        const d = lineDiff(a, b, { context });
        expect(d.bytes).toBe(counted(d));
        expect(apply(a.toString('utf8'), d.hunks())).toBe(b.toString('utf8'));
      }),
      { numRuns: 3000 },
    );
    // Different bytes that decode alike are different lines, as in git.
    expect(lineDiff(Buffer.from([0xff, 0x0a]), Buffer.from([0xfe, 0x0a])).hunks()).toEqual([{ oldStart: 1, oldLines: 1, newStart: 1, newLines: 1, lines: ['-\ufffd', '+\ufffd'] }]);
  });

  it('numbers hunks in the whole file, with structuredPatch layout', () => {
    const a = Array.from({ length: 100 }, (_, i) => `l${i}\n`).join('');
    const b = a.replace('l50\n', 'fifty\n').replace('l90\n', '');
    const hunks = diffText(a, b).hunks();
    expect(hunks).toEqual([
      { oldStart: 48, oldLines: 7, newStart: 48, newLines: 7, lines: [' l47', ' l48', ' l49', '-l50', '+fifty', ' l51', ' l52', ' l53'] },
      { oldStart: 88, oldLines: 7, newStart: 88, newLines: 6, lines: [' l87', ' l88', ' l89', '-l90', ' l91', ' l92', ' l93'] },
    ]);
    expect(hunks).toEqual(structuredPatch('a', 'b', a, b, undefined, undefined, { context: 3 }).hunks);
    expect(diffText('x\ny', 'x\nz').hunks()).toEqual(structuredPatch('a', 'b', 'x\ny', 'x\nz', undefined, undefined, { context: 3 }).hunks);
  });

  it('gives an added file the hunk structuredPatch gives from nothing, and counts lines as it does', () => {
    fc.assert(
      fc.property(text, (b) => {
        const d = addedFileDiff(Buffer.from(b));
        expect(d.hunks()).toEqual(structuredPatch('a', 'b', '', b, undefined, undefined, { context: 3 }).hunks);
        expectConsistent('', b, d);
        expect(countLines(Buffer.from(b))).toBe(signed(structuredPatch('a', 'b', b, '', undefined, undefined, { context: 0 }).hunks, '-'));
      }),
      { numRuns: 2000 },
    );
  });

  it('can be read after later diffs ran', () => {
    const first = diffText('a\nb\nc\n', 'a\nB\nc\n');
    const expected = first.hunks();
    for (let k = 0; k < 20; k++) diffText(`x${k}\n`.repeat(k * 100), `y\n${'x\n'.repeat(k)}`).hunks();
    expect(first.hunks()).toEqual(expected);
    expect(first.addedLines()).toEqual([{ line: 2, text: 'B' }]);
  });

  it('keeps no part of either text alive through its hunks (only the hunk lines themselves)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const big = (tag: string) => Buffer.from(Array.from({ length: 100_000 }, (_, i) => `${tag} line ${i} of a large file\n`).join(''));
    const kept: unknown[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let k = 0; k < 10; k++) {
      const a = big(`f${k}`);
      const b = Buffer.from(a.toString().replace(`f${k} line 500 `, 'changed '));
      const d = lineDiff(a, b);
      kept.push(d.hunks(), d.addedLines(), addedFileDiff(Buffer.from('one line\n')).hunks());
    }
    gc();
    // Twenty 3 MB texts were diffed; what is kept is a few hundred short lines.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 1024 * 1024);
    expect(kept).toHaveLength(30);
  });

  it('bounds its work on large files with no line rare enough to anchor on, stays correct, and agrees with git', () => {
    const n = 20_000;
    const alternating = (xs: readonly string[], length = n) => Array.from({ length }, (_, i) => xs[i % xs.length]).join('');
    let seed = 7;
    const random = (xs: readonly string[], length = n) =>
      Array.from({ length }, () => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return xs[(seed >>> 8) % xs.length];
      }).join('');
    const braces = ['}\n', '\n', '\treturn;\n', '{\n'];
    const cases = [
      // Nothing in common.
      [alternating(['a\n', 'b\n']), alternating(['c\n', 'd\n', 'e\n'])],
      // Everything in common, but every line thousands of times over: histogram finds no
      // anchor and falls back to Myers, whose cost heuristics keep it well short of n².
      [random(braces), random(braces)],
      [alternating(['}\n', '\n']), random(['}\n', '\n', 'x\n'])],
      [random(braces, 2000), random(braces, 2000)],
      [random(Array.from({ length: 20 }, (_, i) => `l${i}\n`), 3000), random(Array.from({ length: 20 }, (_, i) => `l${i}\n`), 3000)],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'linediff-'));
    try {
      mkdirSync(join(dir, 'a'));
      mkdirSync(join(dir, 'b'));
      cases.forEach(([a, b], k) => {
        writeFileSync(join(dir, 'a', `f${k}`), a);
        writeFileSync(join(dir, 'b', `f${k}`), b);
      });
      const git = gitNumstat(dir);
      cases.forEach(([a, b], k) => {
        const started = performance.now();
        const d = diffText(a, b);
        const took = performance.now() - started;
        expectConsistent(a, b, d);
        expect(took).toBeLessThan(3000);
        expect(d.coarse).toBe(false);
        expect([d.added, d.removed]).toEqual(git.get(`f${k}`));
        const tight = diffText(a, b, { maxWork: 1000 });
        expectConsistent(a, b, tight);
        // With nothing in common, the whole replacement is the exact answer, not a coarse one.
        expect(tight.coarse).toBe(k > 0);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lineDiff against git diff --histogram', () => {
  it('removes and adds as many lines as git on source-like edits, in the same hunks', () => {
    const cases = [
      ...sourceEdits({ seed: 11, pairs: 300, minLines: 20, maxLines: 800, minEdits: 1, maxEdits: 12 }),
      ...sourceEdits({ seed: 12, pairs: 30, minLines: 1000, maxLines: 3000, minEdits: 10, maxEdits: 40 }),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'linediff-'));
    try {
      mkdirSync(join(dir, 'a'));
      mkdirSync(join(dir, 'b'));
      cases.forEach(([a, b], k) => {
        writeFileSync(join(dir, 'a', `f${k}`), a);
        writeFileSync(join(dir, 'b', `f${k}`), b);
      });
      const git = gitNumstat(dir);
      const patches = gitPatches(dir);
      const differing: string[] = [];
      let sameHunks = 0;
      cases.forEach(([a, b], k) => {
        const d = diffText(a, b);
        expectConsistent(a, b, d);
        const [added, removed] = git.get(`f${k}`) ?? [0, 0];
        if (d.added === added && d.removed === removed) {
          // Same counts: the same hunks too, git's change groups slid as git slides them.
          expect(unified(d.hunks())).toBe(patches.get(`f${k}`));
          sameHunks++;
          return;
        }
        differing.push(`f${k}: ours +${d.added} -${d.removed}, git +${added} -${removed}`);
        // git's histogram diff runs over the whole files (xprepare.c skips the trimming of shared
        // ends for it), so a line's occurrence count, which picks the anchors, includes the
        // shared head and tail; here they are trimmed first, and now and then a different (so
        // far never a longer) diff wins. Bounded: never more changed lines, and within 15 %.
        expect(d.added + d.removed).toBeLessThanOrEqual(added + removed);
        expect(d.added + d.removed).toBeGreaterThanOrEqual(0.85 * (added + removed));
      });
      // Equal on all but a few percent of the cases (4 of 330 when written).
      expect(differing.length).toBeLessThanOrEqual(cases.length * 0.03);
      expect(sameHunks).toBe(cases.length - differing.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** `git diff --no-index --histogram --numstat a b` of `dir`, by file name. */
function gitNumstat(dir: string): Map<string, [number, number]> {
  const stats = new Map<string, [number, number]>();
  for (const line of git(dir, ['--numstat']).split('\n')) {
    const m = /^(\d+)\t(\d+)\t\{a => b\}\/(\S+)$/.exec(line);
    if (m) stats.set(m[3], [Number(m[1]), Number(m[2])]);
  }
  return stats;
}

/** The output of `git diff --no-index --histogram <args> a b` in `dir`, without any user or system config. */
function git(dir: string, args: readonly string[]): string {
  try {
    return execFileSync('git', ['diff', '--no-index', '--histogram', ...args, 'a', 'b'], { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' }, maxBuffer: 1 << 26 });
  } catch (err) {
    // Exit status 1 means the trees differ; its output is the answer.
    const e = err as { status?: number; stdout?: string };
    if (e.status !== 1 || e.stdout === undefined) throw err;
    return e.stdout;
  }
}

/** `git diff --no-index --histogram -U3 a b` of `dir`: each file's hunks, without git's function names after `@@`. */
function gitPatches(dir: string): Map<string, string> {
  const patches = new Map<string, string>();
  for (const section of git(dir, ['-U3']).split(/^diff --git /m).slice(1)) {
    const lines = section.split('\n');
    const name = /^\+\+\+ b\/b\/(\S+)$/m.exec(section)?.[1];
    const first = lines.findIndex((l) => l.startsWith('@@'));
    if (name === undefined || first < 0) continue;
    patches.set(
      name,
      lines
        .slice(first)
        .filter((l) => l !== '')
        .map((l) => (l.startsWith('@@') ? l.replace(/ @@.*$/, ' @@') : l))
        .join('\n'),
    );
  }
  return patches;
}

/** Hunks written as git writes them (a count of 1 left out, an empty range numbered from the line before). */
function unified(hunks: readonly DiffHunk[]): string {
  const range = (start: number, count: number) => `${count === 0 ? start - 1 : start}${count === 1 ? '' : `,${count}`}`;
  return hunks.map((h) => [`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`, ...h.lines].join('\n')).join('\n');
}
