import { describe, expect, it } from '@jest/globals';
import { compilePolicy } from './compile';
import { PolicyConfigError } from './errors';
import { PolicyConfigSchema, describePolicyIssue, parsePolicyConfig } from './config';

const errorsOf = (raw: unknown): readonly string[] => {
  const r = parsePolicyConfig(raw);
  if (r.ok) throw new Error('expected the configuration to be refused');
  return r.errors;
};

describe('PolicyConfigSchema', () => {
  it('accepts the documented example, with enforce as the default mode', () => {
    const r = parsePolicyConfig({
      secrets: { allow: { paths: ['**/testdata/**'], patterns: ['EXAMPLE'], fingerprints: [] }, disable: [] },
      rules: [
        { id: 'no-force-main', refs: ['refs/heads/main', 'refs/heads/release/*'], when: { forcePush: true }, action: 'deny' },
        { id: 'prod-config', paths: ['deploy/prod/**', '.github/workflows/**'], action: 'hold', approvers: { groups: ['reviewers'], count: 1 } },
        { id: 'secrets', when: { secrets: true }, action: 'deny' },
        {
          id: 'agents-never-touch-ci',
          actors: { agent: true },
          paths: ['.ci/**'],
          action: 'hold',
          approvers: { groups: ['platform'], count: 2 },
          mode: 'evaluate',
          except: { subjects: ['bot-*'], groups: ['platform'] },
        },
      ],
    });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.rules.map((x) => x.mode)).toEqual(['enforce', 'enforce', 'enforce', 'evaluate']);
  });

  it('accepts an empty section: no rules, everything allowed', () => {
    expect(PolicyConfigSchema.parse({})).toEqual({ rules: [] });
  });

  const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ['unknown condition', { rules: [{ id: 'a', action: 'deny' }, { id: 'typo', when: { secret: true }, action: 'deny' }] }, /^rule "typo" \(rules\[1\]\): when: .*secret/],
    ['unknown rule key', { rules: [{ id: 'x', action: 'deny', scope: 1 }] }, /^rule "x" \(rules\[0\]\): .*scope/],
    ['unknown top-level key', { rulez: [] }, /rulez/],
    ['hold without approvers', { rules: [{ id: 'h', action: 'hold' }] }, /^rule "h" \(rules\[0\]\): approvers: action hold needs approvers/],
    ['approvers with count 0', { rules: [{ id: 'h0', action: 'hold', approvers: { groups: ['r'], count: 0 } }] }, /^rule "h0" \(rules\[0\]\): approvers\.count: /],
    ['approvers on deny', { rules: [{ id: 'd', action: 'deny', approvers: { groups: ['r'], count: 1 } }] }, /^rule "d" \(rules\[0\]\): approvers: approvers apply only to action hold/],
    ['duplicate id', { rules: [{ id: 'same', action: 'deny' }, { id: 'same', action: 'allow' }] }, /^rule "same" \(rules\[1\]\): id: the id is already used by rules\[0\]/],
    ['invalid pattern', { rules: [{ id: 'msg', when: { message: { require: '(?<=x)y' } }, action: 'deny' }] }, /^rule "msg" \(rules\[0\]\): when\.message\.require: pattern "\(\?<=x\)y" is not valid RE2/],
    ['unclosed glob', { rules: [{ id: 'g', refs: ['refs/heads/{a,b'], action: 'deny' }] }, /^rule "g" \(rules\[0\]\): refs\[0\]: glob .* unclosed \{/],
    ['unknown action', { rules: [{ id: 'act', action: 'block' }] }, /^rule "act" \(rules\[0\]\): action: /],
    ['empty match', { rules: [{ id: 'em', when: { authorEmail: {} }, action: 'deny' }] }, /^rule "em" \(rules\[0\]\): when\.authorEmail: give require, forbid or both/],
    ['bad secrets setting', { secrets: { disable: ['no-such-detector'] }, rules: [] }, /^secrets\.disable: .*no-such-detector/],
  ];
  it.each(bad)('refuses %s, naming the rule id and the key', (_name, raw, expected) => {
    const errors = errorsOf(raw);
    expect(errors.some((e) => expected.test(e))).toBe(true);
  });

  it('compilePolicy throws POLICY_CONFIG_INVALID with the same messages', () => {
    try {
      compilePolicy({ rules: [{ id: 'h', action: 'hold' }] });
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyConfigError);
      if (e instanceof PolicyConfigError) {
        expect(e.code).toBe('POLICY_CONFIG_INVALID');
        expect(e.data?.errors[0]).toMatch(/^rule "h" \(rules\[0\]\): approvers: /);
      }
    }
  });
});

describe('describePolicyIssue', () => {
  const config = { rules: [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'secrets' }] };
  it('names the rule of a string path', () => {
    expect(describePolicyIssue('rules[3].when.secrets', config, 'expected boolean')).toBe('rule "secrets" (rules[3]): when.secrets: expected boolean');
  });
  it('names the rule under a prefix, from the whole configuration', () => {
    expect(describePolicyIssue(['policy', 'rules', 1, 'action'], { policy: config })).toBe('rule "b" (policy.rules[1]): action');
  });
  it('falls back to the index when the rule has no id', () => {
    expect(describePolicyIssue(['rules', 9, 'id'], config, 'required')).toBe('rules[9]: id: required');
  });
  it('leaves other paths as they are', () => {
    expect(describePolicyIssue(['secrets', 'allow', 'paths', 0], config, 'bad')).toBe('secrets.allow.paths[0]: bad');
  });
});
