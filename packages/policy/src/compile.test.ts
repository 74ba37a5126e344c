/**
 * The fast path matching of rules: compilePathGlob's literal pre-check and evaluate's answer per
 * distinct path must never change a match, so both are compared, on generated globs and paths,
 * with compileGlob's RE2 (the one translation of a glob) asked afresh for every path.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { FileChange } from '@pushgate/changes';
import { changeSet, commit, input, side, update } from './changeset.test-support';
import { compilePathGlob, literalParts } from './compile';
import type { PolicyConfigInput } from './config';
import { evaluate } from './evaluate';
import { compileGlob } from './secrets/index';

/** Glob pieces: literals (with characters globs treat specially outside a group), wildcards, classes, groups, slashes. */
const globPiece = fc.constantFrom('a', 'b', '.', 'x.c', 'src', '-', '}', ',', '*', '**', '**/', '?', '[ab]', '[!a]', '[.-/]', '{a,b}', '{a,}', '{x.c,b/a}', '{a,*.c}', '{a,{b,c}}', '{[ab],x}', '/');
const globArb = fc.array(globPiece, { minLength: 1, maxLength: 7 }).map((pieces) => pieces.join(''));

/** Path segments as git writes them (never empty, no leading or trailing slash), with dots, stars and a newline. */
const segment = fc.array(fc.constantFrom('a', 'b', 'c', '.', 'x', 'src', '*', '{', ',', '}', '\n', '-'), { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
const pathArb = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segs) => segs.join('/'));

/** A glob that compiles (an unclosed `[` or `{` is refused at configuration time). */
const compiles = (glob: string): boolean => {
  try {
    compileGlob(glob, 'paths');
    return true;
  } catch {
    return false;
  }
};

describe('compilePathGlob', () => {
  it('agrees with compileGlob on the shapes rules use (prefixes, suffixes, groups, inner text)', () => {
    const globs = ['deploy/prod/**', '/deploy/**', 'app.yaml', '*.tf', 'deploy/app.yaml', '/deploy/app.yaml', '**/testdata/**', '{a,b}/x', 'src/*/index.ts', 'docs/[a-c]*.md', '.github/workflows/*.yml', 'x?z', '**/*.{c,h}', 'src/', 'deps/**/', '?rc/**', 'foo*bar', 'a}b,c/*', 'x{a,{b,c}}y', 'src/{a,b}'];
    const paths = ['deploy/prod/app.yaml', 'deploy/app.yaml', 'app.yaml', 'sub/app.yaml', 'main.tf', 'infra/main.tf', 'a/testdata/f', 'testdata/f', 'a/x', 'b/x', 'c/x', 'src/core/index.ts', 'src/a/b/index.ts', 'docs/b1.md', 'docs/z.md', '.github/workflows/ci.yml', 'xyz', 'dir/xyz', 'deploy', 'src/a.c', 'include/b.h', 'src', 'deps/x/y', 'src/x', 'foobar', 'a/fooxbar', 'a}b,c/d', 'xay', 'xcy', 'src/b', 'deploy/prod/a\nb'];
    for (const g of globs) {
      const reference = compileGlob(g);
      const fast = compilePathGlob(g);
      for (const p of paths) expect({ g, p, m: fast.matches(p) }).toEqual({ g, p, m: reference.matches(p) });
    }
  });

  it('anchors a glob with a leading / at the repository root (a protected path written so must fire)', () => {
    expect(compilePathGlob('/deploy/**').matches('deploy/prod/app.yaml')).toBe(true);
    expect(compilePathGlob('/deploy/**').matches('src/deploy/app.yaml')).toBe(false);
    expect(compilePathGlob('/deploy/app.yaml').matches('deploy/app.yaml')).toBe(true);
  });

  it('agrees with compileGlob on generated globs and paths', () => {
    fc.assert(
      fc.property(globArb.filter(compiles), fc.array(pathArb, { minLength: 1, maxLength: 20 }), (glob, paths) => {
        const reference = compileGlob(glob, 'paths');
        const fast = compilePathGlob(glob);
        for (const p of paths) {
          expect({ glob, p, m: fast.matches(p) }).toEqual({ glob, p, m: reference.matches(p) });
          // The pre-check is a necessary condition: it never turns away a path the glob matches.
          if (reference.matches(p)) expect({ glob, p, may: fast.mayMatch(p) }).toEqual({ glob, p, may: true });
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with compileGlob on paths made to match (the pre-check must let them through)', () => {
    // A path made from the glob itself (wildcards filled in) often matches, which random paths rarely do.
    const fill = (glob: string, filler: string): string => glob.replace(/\*\*\/?/g, `${filler}/`).replace(/\*/g, filler).replace(/\?/g, 'a').replace(/\[!?([^\]]*)\]/g, 'a').replace(/\{([^{},]*)[^{}]*\}/g, '$1');
    fc.assert(
      fc.property(globArb.filter(compiles), fc.constantFrom('', 'a', 'x.c', 'b/a'), (glob, filler) => {
        const p = fill(glob, filler).replace(/^\/+/, '').replace(/\/+/g, '/');
        if (p === '' || p.endsWith('/')) return;
        expect({ glob, p, m: compilePathGlob(glob).matches(p) }).toEqual({ glob, p, m: compileGlob(glob, 'paths').matches(p) });
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the literal text a glob requires', () => {
    expect(literalParts('deploy/prod/**')).toEqual({ prefix: 'deploy/prod/', suffixes: [], inner: [] });
    expect(literalParts('**/*.{c,h}')).toEqual({ prefix: '', suffixes: ['.c', '.h'], inner: ['.'] });
    expect(literalParts('**/testdata/**')).toEqual({ prefix: '', suffixes: [], inner: ['testdata/'] });
    expect(literalParts('*.tf')).toEqual({ prefix: '', suffixes: ['.tf'], inner: [] });
    expect(literalParts('{a,*.c}/x')).toEqual({ prefix: '', suffixes: ['/x'], inner: [] });
    expect(literalParts('/{a,b}')).toEqual({ prefix: '', suffixes: ['a', 'b'], inner: [] });
    expect(literalParts('/src/*.c')).toEqual({ prefix: 'src/', suffixes: ['.c'], inner: [] });
  });
});

describe('evaluate: path answers per distinct path', () => {
  /** A change of `path` in its own commit: the same paths come back commit after commit, as in a real history. */
  const change = (path: string, i: number): FileChange => (i % 3 === 0 ? { status: 'added', new: side(path) } : i % 3 === 1 ? { status: 'modified', old: side(path, 5, `old${i}`), new: side(path, 6, `new${i}`) } : { status: 'deleted', old: side(path) });

  it('reports exactly the changes whose paths compileGlob matches, however often a path repeats', () => {
    fc.assert(
      fc.property(fc.array(globArb.filter(compiles), { minLength: 1, maxLength: 3 }), fc.array(pathArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(7), { minLength: 1, maxLength: 30 }), (globs, paths, picks) => {
        const commits = picks.map((k, i) => commit(`c${i}`, { files: [change(paths[k % paths.length], i)] }));
        const cs = changeSet([update('refs/heads/main', commits)], commits);
        const policy = { rules: [{ id: 'p', action: 'deny', paths: globs }] } as PolicyConfigInput;
        const reasons = evaluate(input(cs), policy).reasons.filter((r) => r.commit !== undefined);
        const reference = globs.map((g) => compileGlob(g, 'paths'));
        const expected = commits.filter((c) => {
          const f = c.files.at(0);
          return reference.some((g) => g.matches(f.status === 'deleted' ? f.old.path : f.new.path));
        });
        expect(reasons.map((r) => r.commit).slice(0, 49)).toEqual(expected.map((c) => c.oid).slice(0, 49));
      }),
      { numRuns: 300 },
    );
  });
});
