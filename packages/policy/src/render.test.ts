/**
 * What the pusher sees (renderDecision), and that user patterns cannot make judging slow.
 */
import { describe, expect, it } from '@jest/globals';
import { changeSet, commit, input, side, update } from './changeset.test-support';
import { MAX_PATTERN_INPUT, compilePathGlob, compilePattern } from './compile';
import { compileGlob } from './secrets/index';
import type { PolicyConfigInput } from './config';
import { MAX_REASONS_PER_RULE, evaluate } from './evaluate';
import { renderDecision } from './render';
import type { Decision } from './types';

const c1 = commit('c1', { files: [{ status: 'added', new: side('deploy/prod/app.yaml') }], message: 'WIP\u001b[31m red\n' });
const cs = changeSet([update('refs/heads/main', [c1]), update('refs/heads/dev', [])], [c1]);
const hold: PolicyConfigInput = { rules: [{ id: 'prod-config', paths: ['deploy/prod/**'], action: 'hold', approvers: { groups: ['reviewers'], count: 2 } }] };

describe('renderDecision', () => {
  it('hold: every ref held, with the id; the link and who must approve in remote lines', () => {
    const d = evaluate(input(cs), hold);
    const r = renderDecision(d, { publicUrl: 'https://gate.example.com/', holdId: 'h-42', refs: ['refs/heads/main', 'refs/heads/dev'] });
    expect([...r.refLines]).toEqual([
      ['refs/heads/main', 'held for approval (h-42)'],
      ['refs/heads/dev', 'held for approval (h-42)'],
    ]);
    expect(r.remoteLines).toEqual([
      'Push held for approval: https://gate.example.com/review/holds/h-42; nothing was pushed yet.',
      'Needs 2 approvals from reviewers (rule prod-config).',
      `rule prod-config: ${c1.oid.slice(0, 7)} deploy/prod/app.yaml: adds deploy/prod/app.yaml — needs approval`,
    ]);
  });

  it('hold without an id yet', () => {
    const r = renderDecision(evaluate(input(cs), hold));
    expect(r.refLines.get('refs/heads/main')).toBe('held for approval');
  });

  it('deny: the denying rule on its ref; evaluate-mode and exempt lines marked; control characters made harmless', () => {
    const d = evaluate(input(cs), {
      rules: [
        { id: 'no-wip', when: { message: { forbid: '^WIP' } }, action: 'deny' },
        { id: 'dry', refs: ['refs/heads/main'], action: 'deny', mode: 'evaluate' },
        { id: 'exempted', refs: ['refs/heads/main'], action: 'deny', except: { groups: ['dev'] } },
        { id: 'fine', action: 'allow' },
      ],
    });
    expect(d.kind).toBe('deny');
    const r = renderDecision(d, { refs: ['refs/heads/main', 'refs/heads/dev'] });
    expect(r.refLines.get('refs/heads/main')).toBe('denied by policy rule no-wip');
    expect(r.refLines.get('refs/heads/dev')).toBe('denied with the rest of the push (policy)');
    expect(r.remoteLines[0]).toBe('Push denied by policy; nothing was pushed.');
    expect(r.remoteLines).toContain(`rule no-wip: ${c1.oid.slice(0, 7)}: commit message "WIP?[31m red" matches the forbidden pattern ^WIP — reword the commit message (git rebase -i, then reword)`);
    expect(r.remoteLines).toContain('[evaluate] rule dry would deny: refs/heads/main: updates refs/heads/main (matches the rule\'s scope) — this push is not allowed here');
    expect(r.remoteLines.some((l) => l.startsWith('[exempt] rule exempted would deny, but you are exempt: '))).toBe(true);
    expect(r.remoteLines.some((l) => l.includes('fine'))).toBe(false);
    expect(r.remoteLines.join('\n')).not.toMatch(/\u001b/);
  });

  it('allow: no ng lines; evaluate-mode findings still shown', () => {
    const d = evaluate(input(cs), { rules: [{ id: 'dry', paths: ['deploy/**'], action: 'deny', mode: 'evaluate' }] });
    expect(d.kind).toBe('allow');
    const r = renderDecision(d);
    expect(r.refLines.size).toBe(0);
    expect(r.remoteLines).toEqual([`[evaluate] rule dry would deny: ${c1.oid.slice(0, 7)} deploy/prod/app.yaml: adds deploy/prod/app.yaml — this path is protected`]);
  });

  it('bounds the reasons of one rule', () => {
    const many = commit('many', { files: Array.from({ length: 300 }, (_, i) => ({ status: 'added' as const, new: side(`deploy/f${i}`) })) });
    const d: Decision = evaluate(input(changeSet([update('refs/heads/main', [many])], [many])), { rules: [{ id: 'p', paths: ['deploy/**'], action: 'deny' }] });
    expect(d.reasons).toHaveLength(MAX_REASONS_PER_RULE);
    expect(d.reasons.at(-1)?.message).toBe(`and ${300 - MAX_REASONS_PER_RULE + 1} more findings of this rule`);
  });
});

describe('user patterns', () => {
  it('a catastrophic pattern on a 100k-character line finishes fast', () => {
    const started = performance.now();
    // Within the input bound: the whole line is searched, in linear time, and does not match.
    expect(compilePattern('(a+)+$').test(`${'a'.repeat(60_000)}!`)).toBe(false);
    const line = `${'a'.repeat(100_000)}!`;
    const msg = commit('slow', { message: line, author: `${line}@acme.com` });
    const d = evaluate(input(changeSet([update('refs/heads/main', [msg])], [msg])), {
      rules: [
        { id: 'slow', when: { message: { forbid: '(a+)+!$' } }, action: 'deny' },
        { id: 'slow-email', when: { authorEmail: { forbid: '^(a+)+@' } }, action: 'deny' },
      ],
    });
    // Beyond the bound, only the first MAX_PATTERN_INPUT characters are read (the `!` is past it).
    expect(d.kind).toBe('allow');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('reads at most MAX_PATTERN_INPUT characters', () => {
    expect(compilePattern('tail$').test(`${'x'.repeat(MAX_PATTERN_INPUT)}tail`)).toBe(false);
    expect(compilePattern('^x').test(`${'x'.repeat(MAX_PATTERN_INPUT)}tail`)).toBe(true);
  });
});

describe('compilePathGlob', () => {
  it('agrees with compileGlob on every glob shape (the literal pre-check only saves work)', () => {
    const globs = ['deploy/prod/**', '/deploy/**', 'app.yaml', '*.tf', 'deploy/app.yaml', '/deploy/app.yaml', '**/testdata/**', '{a,b}/x', 'src/*/index.ts', 'docs/[a-c]*.md', '.github/workflows/*.yml', 'x?z'];
    const paths = ['deploy/prod/app.yaml', 'deploy/app.yaml', 'app.yaml', 'sub/app.yaml', 'main.tf', 'infra/main.tf', 'a/testdata/f', 'testdata/f', 'a/x', 'b/x', 'c/x', 'src/core/index.ts', 'src/a/b/index.ts', 'docs/b1.md', 'docs/z.md', '.github/workflows/ci.yml', 'xyz', 'dir/xyz', 'deploy'];
    for (const g of globs) {
      const reference = compileGlob(g);
      const fast = compilePathGlob(g);
      for (const p of paths) expect({ g, p, m: fast.matches(p) }).toEqual({ g, p, m: reference.matches(p) });
    }
  });
});
