import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { GitFixture } from './git-fixture.test-support';
import { MAX_SCORE, estimateSimilarity, hashChars, isBinary, type SimilarityInput } from './index';
import { SimilarityMatrix } from './similarity';

// Similarity scores must be git's to the percent: git diff -M decides what a rename is.

let repo: GitFixture;
beforeAll(() => {
  repo = GitFixture.create('similarity');
});
afterAll(() => repo.cleanup());

function input(data: Buffer): SimilarityInput {
  return { regular: true, size: data.length, spans: () => hashChars(data, !isBinary(data)) };
}

/** git's score for renaming a file with content `a` to content `b` (undefined: no rename). */
function gitScore(a: Buffer, b: Buffer, name: string): number | undefined {
  repo.write(`${name}-old.txt`, a);
  repo.commit(`${name} old`);
  repo.remove(`${name}-old.txt`);
  repo.write(`${name}-new.txt`, b);
  repo.commit(`${name} new`);
  const raw = repo.git('diff-tree', '-r', '-M', '--raw', 'HEAD~1', 'HEAD');
  const m = / R(\d+)\t/.exec(raw);
  repo.remove(`${name}-new.txt`);
  repo.commit(`${name} clean`);
  return m ? Number(m[1]) : undefined;
}

function ourScore(a: Buffer, b: Buffer): number | undefined {
  const score = estimateSimilarity(input(a), input(b), MAX_SCORE / 2);
  return score >= MAX_SCORE / 2 ? Math.floor((score * 100) / MAX_SCORE) : undefined;
}

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} line number ${i} with some words`).join('\n');

describe('estimateSimilarity', () => {
  it.each([
    ['one line changed of twenty', Buffer.from(`${lines(20, 'a')}\n`), Buffer.from(`${lines(19, 'a')}\nchanged\n`)],
    ['lines appended', Buffer.from(`${lines(20, 'a')}\n`), Buffer.from(`${lines(20, 'a')}\n${lines(5, 'b')}\n`)],
    ['last line without newline changed', Buffer.from(`${lines(12, 'a')}\ntail one without newline here`), Buffer.from(`${lines(12, 'a')}\nanother tail, different entirely!`)],
    // Decides whether a last chunk without LF counts: it is most of both files here.
    ['same unterminated last line, other first line', Buffer.from(`ab\n${'t'.repeat(50)}`), Buffer.from(`cd\n${'t'.repeat(50)}`)],
    ['long lines cut in 64-byte chunks', Buffer.from(`${'x'.repeat(500)}\n${'y'.repeat(300)}\n`), Buffer.from(`${'x'.repeat(500)}\n${'z'.repeat(300)}\n`)],
    ['CRLF against LF', Buffer.from(`${lines(20, 'a').replace(/\n/g, '\r\n')}\r\n`), Buffer.from(`${lines(20, 'a')}\n`)],
    ['binary with NUL bytes', Buffer.from([...Array(400).keys()].map((i) => (i % 40 === 0 ? 0 : i % 251))), Buffer.from([...Array(420).keys()].map((i) => (i % 40 === 0 ? 0 : i % 251)))],
    ['half rewritten', Buffer.from(`${lines(10, 'a')}\n${lines(10, 'b')}\n`), Buffer.from(`${lines(10, 'a')}\n${lines(10, 'c')}\n`)],
    ['too different in size', Buffer.from(`${lines(3, 'a')}\n`), Buffer.from(`${lines(3, 'a')}\n${lines(20, 'b')}\n`)],
  ])('%s: same score as git diff -M', (name, a, b) => {
    expect(ourScore(a, b)).toBe(gitScore(a, b, name.replace(/\W+/g, '-')));
  });

  it('never pairs non-regular files by similarity', () => {
    const a = Buffer.from('target/one');
    expect(estimateSimilarity({ ...input(a), regular: false }, input(a), 0)).toBe(0);
  });

  it('takes a NUL in the first 8000 bytes for binary, as git does', () => {
    expect(isBinary(Buffer.concat([Buffer.alloc(7999, 0x61), Buffer.from([0])]))).toBe(true);
    expect(isBinary(Buffer.concat([Buffer.alloc(8000, 0x61), Buffer.from([0])]))).toBe(false);
  });

  it('scores a destination against many sources as pairwise estimates do, computing the same histograms', () => {
    const blob = fc
      .record({
        lines: fc.array(fc.constantFrom('x\n', 'shared line\n', 'another one\n', 'y', '\r\n', 'z'.repeat(70), '\n', 'w\u0000\n'), { maxLength: 30 }),
        regular: fc.boolean(),
        tooLarge: fc.boolean(),
      })
      .map(({ lines, regular, tooLarge }) => ({ data: Buffer.from(lines.join('')), regular: regular || lines.length % 3 !== 0, tooLarge: tooLarge && lines.length % 4 === 0 }));
    type Blob = { data: Buffer; regular: boolean; tooLarge: boolean };
    const inputs = (blobs: Blob[], computed: Set<Blob>): SimilarityInput[] =>
      blobs.map((b) => ({
        regular: b.regular,
        size: b.data.length,
        spans: () => {
          computed.add(b);
          return b.tooLarge ? undefined : hashChars(b.data, !isBinary(b.data));
        },
      }));
    fc.assert(
      fc.property(fc.array(blob, { minLength: 1, maxLength: 8 }), fc.array(blob, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: MAX_SCORE }), (srcs, dsts, minimum) => {
        const pairwiseComputed = new Set<Blob>();
        const matrixComputed = new Set<Blob>();
        const pairSources = inputs(srcs, pairwiseComputed);
        const pairDsts = inputs(dsts, pairwiseComputed);
        const matrix = new SimilarityMatrix(inputs(srcs, matrixComputed));
        const matrixDsts = inputs(dsts, matrixComputed);
        const out = new Float64Array(srcs.length);
        dsts.forEach((_, d) => {
          matrix.scores(matrixDsts[d], minimum, out);
          expect([...out]).toEqual(pairSources.map((s) => estimateSimilarity(s, pairDsts[d], minimum)));
        });
        expect(matrixComputed).toEqual(pairwiseComputed);
      }),
      { numRuns: 1000 },
    );
  });
});
