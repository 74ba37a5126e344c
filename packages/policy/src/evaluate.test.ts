/**
 * Pure table tests of how reasons become a decision: precedence, modes, exemptions, scopes, on
 * small change sets built by hand (the conditions are tested on real repositories in
 * conditions.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Identity } from '@pushgate/core';
import { DEV, changeSet, commit, create, input, remove, side, update } from './changeset.test-support';
import { compilePolicy } from './compile';
import type { PolicyConfigInput } from './config';
import { evaluate, repoName } from './evaluate';
import type { Decision } from './types';

const c1 = commit('c1', { files: [{ status: 'added', new: side('src/app.ts') }] });
const c2 = commit('c2', { files: [{ status: 'modified', old: side('deploy/prod/app.yaml', 5, 'old'), new: side('deploy/prod/app.yaml') }] });
const forceMain = changeSet([update('refs/heads/main', [c1, c2], { force: true })], [c1, c2]);

const rule = (id: string, action: 'allow' | 'deny' | 'hold', extra: Record<string, unknown> = {}) => ({
  id,
  action,
  ...(action === 'hold' ? { approvers: { groups: [`${id}-approvers`], count: 1 } } : {}),
  ...extra,
});
const decide = (rules: unknown[], o: Parameters<typeof input>[1] = {}): Decision => evaluate(input(forceMain, o), { rules } as PolicyConfigInput);
const summary = (d: Decision) => ({ kind: d.kind, rules: d.reasons.map((r) => `${r.rule}:${r.mode}:${r.outcome}${r.exempt ? ':exempt' : ''}`) });

describe('evaluate: precedence', () => {
  const table: ReadonlyArray<readonly [string, unknown[], Decision['kind']]> = [
    ['no rule', [], 'allow'],
    ['only allow', [rule('ok', 'allow')], 'allow'],
    ['hold', [rule('h', 'hold')], 'hold'],
    ['deny beats hold', [rule('h', 'hold'), rule('d', 'deny')], 'deny'],
    ['deny beats allow', [rule('ok', 'allow'), rule('d', 'deny')], 'deny'],
    ['hold beats allow', [rule('ok', 'allow'), rule('h', 'hold')], 'hold'],
    ['evaluate-mode deny does not decide', [rule('d', 'deny', { mode: 'evaluate' }), rule('h', 'hold')], 'hold'],
    ['off is ignored', [rule('d', 'deny', { mode: 'off' })], 'allow'],
    ['exempt deny does not decide', [rule('d', 'deny', { except: { groups: ['dev'] } })], 'allow'],
    ['a non-matching rule does not decide', [rule('d', 'deny', { refs: ['refs/heads/other'] })], 'allow'],
  ];
  it.each(table)('%s', (_name, rules, kind) => {
    expect(decide(rules).kind).toBe(kind);
  });

  it('reports every matching rule, including evaluate-mode and exempt ones, and no off rule', () => {
    const d = decide([rule('ok', 'allow'), rule('ev', 'deny', { mode: 'evaluate' }), rule('ex', 'hold', { except: { subjects: ['dev'] } }), rule('off', 'deny', { mode: 'off' })]);
    expect(summary(d)).toEqual({ kind: 'allow', rules: ['ok:enforce:allow', 'ev:evaluate:deny', 'ex:enforce:hold:exempt'] });
  });

  it('lists the approvers of each holding rule once, and none of an exempt or evaluate-mode hold', () => {
    const d = decide([
      rule('h1', 'hold', { paths: ['**'] }),
      rule('h2', 'hold'),
      rule('h3', 'hold', { mode: 'evaluate' }),
      rule('h4', 'hold', { except: { emails: ['*@acme.com'] } }),
    ]);
    expect(d.kind).toBe('hold');
    if (d.kind === 'hold') expect(d.approvers).toEqual([{ groups: ['h1-approvers'], count: 1 }, { groups: ['h2-approvers'], count: 1 }]);
  });

  it('with no rule matching: allow without reasons', () => {
    expect(decide([rule('d', 'deny', { when: { deletion: true } })])).toEqual({ kind: 'allow', reasons: [] });
  });

  it('accepts a compiled policy and a configuration alike', () => {
    const rules = [rule('d', 'deny', { when: { forcePush: true } })];
    expect(evaluate(input(forceMain), compilePolicy({ rules } as PolicyConfigInput))).toEqual(decide(rules));
  });
});

describe('evaluate: scopes', () => {
  const agent: Identity = { sub: 'agent-7', issuer: 'https://gate', email: 'bot@acme.com', groups: ['bots'], agent: true };
  const table: ReadonlyArray<readonly [string, Record<string, unknown>, Parameters<typeof input>[1], boolean]> = [
    ['repos: matches without .git', { repos: ['github/acme/*'] }, {}, true],
    ['repos: other upstream', { repos: ['gitlab/acme/*'] }, {}, false],
    ['repos: * stays within a segment', { repos: ['github/*'] }, {}, false],
    ['repos: ** spans segments', { repos: ['github/**'] }, {}, true],
    ['refs: exact', { refs: ['refs/heads/main'] }, {}, true],
    ['refs: a bare name is not a ref', { refs: ['main'] }, {}, false],
    ['refs: glob', { refs: ['refs/heads/*'] }, {}, true],
    ['refs: other', { refs: ['refs/heads/release/*'] }, {}, false],
    ['actors.subjects', { actors: { subjects: ['dev'] } }, {}, true],
    ['actors.subjects: other', { actors: { subjects: ['alice'] } }, {}, false],
    ['actors.emails ignore case', { actors: { emails: ['*@ACME.com'] } }, {}, true],
    ['actors.groups', { actors: { groups: ['ops', 'dev'] } }, {}, true],
    ['actors.groups: other', { actors: { groups: ['ops'] } }, {}, false],
    ['actors.agent true: a human', { actors: { agent: true } }, {}, false],
    ['actors.agent true: an agent', { actors: { agent: true } }, { identity: agent }, true],
    ['actors.agent false: a human', { actors: { agent: false } }, {}, true],
    ['actors: all given must match', { actors: { agent: true, groups: ['dev'] } }, { identity: agent }, false],
    ['pushOptions: key', { pushOptions: ['ci.skip'] }, { pushOptions: ['ci.skip'] }, true],
    ['pushOptions: key of key=value', { pushOptions: ['reviewer'] }, { pushOptions: ['reviewer=alice'] }, true],
    ['pushOptions: key=value glob', { pushOptions: ['reviewer=a*'] }, { pushOptions: ['reviewer=alice'] }, true],
    ['pushOptions: absent', { pushOptions: ['ci.skip'] }, { pushOptions: [] }, false],
    ['paths: modified file', { paths: ['deploy/prod/**'] }, {}, true],
    ['paths: untouched', { paths: ['docs/**'] }, {}, false],
    ['paths: name in any directory', { paths: ['app.yaml'] }, {}, true],
  ];
  it.each(table)('%s', (_name, scope, o, matches) => {
    expect(decide([rule('r', 'deny', scope)], o).kind).toBe(matches ? 'deny' : 'allow');
  });

  it('repoName strips slashes and .git', () => {
    expect(repoName('github', '/acme/app.git')).toBe('github/acme/app');
    expect(repoName('github', 'acme/app')).toBe('github/acme/app');
  });

  it('exemptions: any listed subject, email or group exempts', () => {
    for (const except of [{ subjects: ['de*'] }, { emails: ['dev@acme.com'] }, { groups: ['x', 'dev'] }]) {
      const d = decide([rule('d', 'deny', { except })]);
      expect(d.kind).toBe('allow');
      expect(d.reasons.every((r) => r.exempt === true)).toBe(true);
    }
    expect(decide([rule('d', 'deny', { except: { groups: ['ops'] } })]).kind).toBe('deny');
  });

  it('judges each ref: a rule scoped to one ref reports that ref only', () => {
    const cs = changeSet([update('refs/heads/main', [c1]), create('refs/heads/topic', [c2]), remove('refs/tags/v1')], [c1, c2]);
    const d = evaluate(input(cs), { rules: [rule('d', 'deny', { refs: ['refs/heads/topic'] })] });
    expect(d.reasons.map((r) => r.ref)).toEqual(['refs/heads/topic']);
  });

  it('a commit two refs bring is reported once', () => {
    const cs = changeSet([create('refs/heads/a', [c1]), create('refs/heads/b', [c1])], [c1]);
    const d = evaluate(input(cs, { identity: { ...DEV, email: 'other@acme.com' } }), { rules: [rule('np', 'deny', { when: { notPusher: true } })] });
    expect(d.reasons.map((r) => `${r.ref} ${r.message}`)).toEqual([`refs/heads/a author dev@acme.com is not the pusher (other@acme.com)`, `refs/heads/a committer dev@acme.com is not the pusher (other@acme.com)`]);
  });
});

describe('evaluate: cost', () => {
  it('judges a push of 2,000 commits and 10,000 file changes against 20 rules without blowing up (a guard against quadratic work, not a benchmark)', () => {
    const commits = Array.from({ length: 2000 }, (_, i) =>
      commit(`k${i}`, { files: Array.from({ length: 5 }, (_, j) => ({ status: 'added' as const, new: side(`src/m${i % 50}/f${i}-${j}.ts`, 100 + j) })) }),
    );
    const cs = changeSet([update('refs/heads/main', commits)], commits);
    const rules = Array.from({ length: 20 }, (_, i) => ({
      id: `r${i}`,
      action: 'deny' as const,
      mode: 'evaluate' as const,
      paths: [`src/m${i}/**`],
      when: i % 2 === 0 ? { fileSizeOver: 102, message: { forbid: '^commit' } } : { extensions: ['ts'], authorEmail: { require: '@acme\\.com$' } },
    }));
    const policy = compilePolicy({ rules });
    const started = performance.now();
    const d = evaluate(input(cs), policy);
    const ms = performance.now() - started;
    expect(d.kind).toBe('allow');
    expect(d.reasons.length).toBeGreaterThan(0);
    expect(ms).toBeLessThan(4_000);
  });
});

describe('evaluate: properties', () => {
  const ruleArb = fc.record({
    id: fc.constant('x'),
    action: fc.constantFrom('allow' as const, 'deny' as const, 'hold' as const),
    mode: fc.constantFrom('enforce' as const, 'evaluate' as const, 'off' as const),
    refs: fc.option(fc.constantFrom(['refs/heads/main'], ['refs/heads/*'], ['refs/tags/**']), { nil: undefined }),
    paths: fc.option(fc.constantFrom(['src/**'], ['deploy/**'], ['*.yaml']), { nil: undefined }),
    except: fc.option(fc.constantFrom({ groups: ['dev'] }, { subjects: ['nobody'] }), { nil: undefined }),
    when: fc.option(fc.constantFrom({ forcePush: true }, { creation: true }, { unsigned: true }, { commitsOver: 1 }, { message: { forbid: '1$' } }), { nil: undefined }),
  });
  it('the decision is the most restrictive enforced, non-exempt outcome of the reasons, whatever the rules', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 6 }), fc.boolean(), (raw, force) => {
        const rules = raw.map((r, i) => ({ ...r, id: `r${i}`, ...(r.action === 'hold' ? { approvers: { groups: ['g'], count: 1 } } : {}) }));
        const cs = changeSet([update('refs/heads/main', [c1, c2], { force }), create('refs/tags/v1', [])], [c1, c2]);
        const d = evaluate(input(cs), { rules } as PolicyConfigInput);
        const deciding = d.reasons.filter((r) => r.mode === 'enforce' && !r.exempt).map((r) => r.outcome);
        const expected = deciding.includes('deny') ? 'deny' : deciding.includes('hold') ? 'hold' : 'allow';
        expect(d.kind).toBe(expected);
        expect(d.reasons.every((r) => rules.find((x) => x.id === r.rule)?.mode !== 'off')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
