import { describe, expect, it } from '@jest/globals';
import { applyPatch, structuredPatch } from 'diff';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addedHunks, countLines, lineDiff as diffBytes, planAddedHunks, planLineDiff } from './linediff';

const lineDiff = (a: string, b: string, context: number, max: number) => diffBytes(Buffer.from(a), Buffer.from(b), context, max);

// lineDiff must say what `diff`'s structuredPatch says for the trimmed text, element for element,
// and the same as a whole-file structuredPatch in line counts and in what the hunks rebuild.

const lines = fc.array(fc.constantFrom('a\n', 'b\n', 'c\n', 'x', 'dup\n', '\n', 'r\r\n', 'r\r', '\r\n'), { maxLength: 30 }).map((xs) => xs.join(''));

/** The reference: trim shared lines keeping `context`, structuredPatch the rest, renumber. */
function viaJsdiff(a: string, b: string, context: number, maxEditLength: number) {
  const split = (t: string) => t.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const la = split(a);
  const lb = split(b);
  let prefix = 0;
  const shorter = Math.min(la.length, lb.length);
  while (prefix < shorter && la[prefix] === lb[prefix]) prefix++;
  let suffix = 0;
  while (suffix < shorter - prefix && la[la.length - 1 - suffix] === lb[lb.length - 1 - suffix]) suffix++;
  const start = Math.max(0, prefix - context);
  const keepEnd = Math.max(0, suffix - context);
  const patch = structuredPatch('a', 'b', la.slice(start, la.length - keepEnd).join(''), lb.slice(start, lb.length - keepEnd).join(''), undefined, undefined, {
    context,
    maxEditLength,
  });
  return patch?.hunks.map((h) => ({ ...h, oldStart: h.oldStart + start, newStart: h.newStart + start }));
}

const plain = (hunks: ReturnType<typeof lineDiff>) => hunks?.map((h) => ({ ...h, lines: [...h.lines] }));

describe('lineDiff', () => {
  it('gives the same hunks as structuredPatch on the trimmed text', () => {
    fc.assert(
      fc.property(lines, lines, fc.integer({ min: 0, max: 4 }), (a, b, context) => {
        expect(plain(lineDiff(a, b, context, 1_000_000))).toEqual(viaJsdiff(a, b, context, 1_000_000));
      }),
      { numRuns: 5000 },
    );
  });

  it('gives up exactly where structuredPatch does (maxEditLength)', () => {
    fc.assert(
      fc.property(lines, lines, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }), (a, b, context, max) => {
        expect(plain(lineDiff(a, b, context, max))).toEqual(viaJsdiff(a, b, context, max));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with structuredPatch on long files with many scattered edits, where jsdiff takes over', () => {
    const rnd = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const [seed, n, edits] of [
      [1, 400, 20],
      [2, 2000, 150],
      [3, 3000, 900],
      [4, 600, 600],
    ] as const) {
      const r = rnd(seed);
      const a = Array.from({ length: n }, (_, i) => `line ${i % 50} ${Math.floor(r() * 4)}\n`);
      const b = [...a];
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(r() * b.length);
        if (r() < 0.4) b.splice(at, 1);
        else if (r() < 0.7) b.splice(at, 0, `new ${k}\n`);
        else b[at] = `changed ${k}\n`;
      }
      const [ta, tb] = [a.join(''), b.join('')];
      expect(plain(lineDiff(ta, tb, 3, 20_000))).toEqual(viaJsdiff(ta, tb, 3, 20_000));
      expect(plain(lineDiff(ta, tb, 0, 50))).toEqual(viaJsdiff(ta, tb, 0, 50));
    }
  });

  it('gives the same line counts as a whole-file structuredPatch, and its hunks rebuild the new text', () => {
    fc.assert(
      fc.property(lines, lines, fc.integer({ min: 0, max: 4 }), (a, b, context) => {
        const ours = plain(lineDiff(a, b, context, 1_000_000))!;
        const full = structuredPatch('a', 'b', a, b, undefined, undefined, { context }).hunks;
        const count = (hs: typeof full, c: string) => hs.reduce((n, h) => n + h.lines.filter((l) => l.startsWith(c)).length, 0);
        expect(count(ours, '+')).toBe(count(full, '+'));
        expect(count(ours, '-')).toBe(count(full, '-'));
        if (a !== b) {
          const patched = applyPatch(a, { oldFileName: 'a', newFileName: 'b', oldHeader: undefined, newHeader: undefined, hunks: ours }, { autoConvertLineEndings: false });
          expect(patched).toBe(b);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads bytes that are not UTF-8 as structuredPatch reads their decoding (U+FFFD)', () => {
    const bytes = fc.array(fc.constantFrom([0x61], [0x0a], [0xff], [0xc3], [0xc3, 0xa9], [0x0d, 0x0a], [0xe2, 0x82], [0x80]), { maxLength: 40 }).map((xs) => Buffer.from(xs.flat()));
    fc.assert(
      fc.property(bytes, bytes, fc.integer({ min: 0, max: 3 }), (a, b, context) => {
        expect(plain(diffBytes(a, b, context, 1_000_000))).toEqual(viaJsdiff(a.toString('utf8'), b.toString('utf8'), context, 1_000_000));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives an added file the hunk structuredPatch gives from nothing, and counts lines as it does', () => {
    fc.assert(
      fc.property(lines, (b) => {
        expect(plain(addedHunks(Buffer.from(b)))).toEqual(structuredPatch('a', 'b', '', b, undefined, undefined, { context: 3 }).hunks);
        const counted = structuredPatch('a', 'b', b, '', undefined, undefined, { context: 0 }).hunks.reduce((n, h) => n + h.lines.filter((l) => l.startsWith('-')).length, 0);
        expect(countLines(Buffer.from(b))).toBe(counted);
      }),
      { numRuns: 2000 },
    );
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
      kept.push(diffBytes(a, b, 3, 1000), addedHunks(Buffer.from('one line\n')));
      // Invalid UTF-8 takes the string path.
      const c = Buffer.concat([Buffer.from([0xff]), a]);
      kept.push(diffBytes(c, Buffer.concat([Buffer.from([0xff]), b]), 3, 1000));
    }
    gc();
    // Twenty 3 MB texts were diffed; what is kept is a few hundred short lines.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 1024 * 1024);
    expect(kept).toHaveLength(30);
  });

  it('sizes a diff before making it exactly as the change set counts the text it makes', () => {
    // diffs.ts: each hunk line's length + 1, and each added line's text length + 8.
    const counted = (hunks: readonly { lines: readonly string[] }[]) =>
      hunks.reduce((n, h) => n + h.lines.reduce((m, l) => m + l.length + 1 + (l.startsWith('+') ? l.length - 1 + 8 : 0), 0), 0);
    const bytes = fc.array(fc.constantFrom([0x61], [0x0a], [0xff], [0xc3, 0xa9], [0x0d, 0x0a], [0xe2, 0x82, 0xac], [0x62, 0x0a]), { maxLength: 40 }).map((xs) => Buffer.from(xs.flat()));
    fc.assert(
      fc.property(bytes, bytes, fc.integer({ min: 0, max: 3 }), (a, b, context) => {
        const plan = planLineDiff(a, b, context, 1_000_000)!;
        expect(plan.bytes).toBe(counted(plan.hunks()));
        const added = planAddedHunks(b);
        expect(added.bytes).toBe(counted(added.hunks()));
      }),
      { numRuns: 3000 },
    );
    // Long enough for jsdiff to take over.
    const long = (tag: string) => Buffer.from(Array.from({ length: 3000 }, (_, i) => `${i % 3 ? tag : 'same'} ${i}\n`).join(''));
    const plan = planLineDiff(long('x'), long('y'), 3, 100_000)!;
    expect(plan.bytes).toBe(counted(plan.hunks()));
  });

  it('refuses to make the hunks of a diff after the next diff started', () => {
    const first = planLineDiff(Buffer.from('a\nb\n'), Buffer.from('a\nc\n'), 3, 100)!;
    planLineDiff(Buffer.from('x\n'), Buffer.from('y\n'), 3, 100);
    expect(() => first.hunks()).toThrow('a line diff was read after the next one started');
  });

  it('numbers hunks in the whole file', () => {
    const a = Array.from({ length: 100 }, (_, i) => `l${i}\n`).join('');
    const b = a.replace('l50\n', 'fifty\n');
    expect(lineDiff(a, b, 3, 1000)).toEqual([{ oldStart: 48, oldLines: 7, newStart: 48, newLines: 7, lines: [' l47', ' l48', ' l49', '-l50', '+fifty', ' l51', ' l52', ' l53'] }]);
    expect(lineDiff(a, b, 3, 1000)).toEqual(structuredPatch('a', 'b', a, b, undefined, undefined, { context: 3 }).hunks);
  });
});
