import { describe, expect, it } from '@jest/globals';
import type { Oid } from '@pushgate/core';
import type { Decision, Reason } from '@pushgate/policy';
import { allowNotes, decisionReport } from './settle';

const COMMIT = 'c0ffee0000000000000000000000000000000001' as Oid;

const secret: Reason = {
  rule: 'no-secrets',
  mode: 'enforce',
  outcome: 'deny',
  condition: 'secrets',
  message: 'aws-access-key-id AKIA****',
  ref: 'refs/heads/feature',
  commit: COMMIT,
  path: 'config/app.ini',
  line: 12,
  finding: 'aws-access-key-id AKIA****',
};

describe('settling a decision', () => {
  it('denies every ref of the push, naming the rule on the refs it concerns', () => {
    const decision: Decision = { kind: 'deny', reasons: [secret] };
    const { report, lines } = decisionReport(['refs/heads/feature', 'refs/heads/main'], decision, 'req-1');
    expect(report.unpack).toEqual({ ok: true });
    expect(report.refs).toEqual([
      { ref: 'refs/heads/feature', ok: false, reason: expect.stringContaining('no-secrets') },
      { ref: 'refs/heads/main', ok: false, reason: expect.stringMatching(/denied/) },
    ]);
    const finding = lines.find((l) => l.includes('config/app.ini:12'));
    expect(finding).toContain('no-secrets');
    expect(finding).toContain(COMMIT.slice(0, 7));
    expect(finding).toContain('AKIA****');
    expect(lines.at(-1)).toBe('pushgate: nothing was sent to the upstream (request id req-1)');
  });

  it('holds every ref under the stored hold\'s id, with the review link, the rules, who may approve and how to follow it', () => {
    const hold: Reason = { rule: 'protected-deploy', mode: 'enforce', outcome: 'hold', condition: 'paths', message: 'renames tools/x.sh to deploy/x.sh', ref: 'refs/heads/main', path: 'deploy/x.sh', approvers: { groups: ['release-managers'], count: 2 } };
    const decision: Decision = { kind: 'hold', reasons: [hold], approvers: [{ groups: ['release-managers'], count: 2 }] };
    const { report, lines } = decisionReport(['refs/heads/main', 'refs/tags/v1'], decision, 'req-2', { id: 'h7k2m9q4x8c3', publicUrl: 'https://gate.example.com/' });
    expect(report.unpack).toEqual({ ok: true });
    expect(report.refs.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['held for approval (h7k2m9q4x8c3)', 'held for approval (h7k2m9q4x8c3)']);
    expect(lines[0]).toBe('Push held for approval: https://gate.example.com/review/holds/h7k2m9q4x8c3; nothing was pushed yet.');
    expect(lines).toContain('Needs 2 approvals from release-managers (rule protected-deploy).');
    expect(lines.join('\n')).toMatch(/rule protected-deploy: deploy\/x.sh: renames/);
    expect(lines).toContain('pushgate: follow it with `pushgate holds show h7k2m9q4x8c3`; `git push -o wait` keeps a push waiting for the decision');
    expect(lines.at(-1)).toBe('pushgate: nothing was sent to the upstream yet (request id req-2)');
    expect(lines.join('\n')).not.toContain('not stored');
  });

  it('shows nothing for a plain allow, and the dry-run and exempt reasons of an allow that has them', () => {
    expect(allowNotes({ kind: 'allow', reasons: [] })).toEqual([]);
    const dryRun: Reason = { ...secret, rule: 'no-logs', mode: 'evaluate', condition: 'extensions', message: 'adds build.log' };
    const exempt: Reason = { ...secret, rule: 'no-deletion', exempt: true, condition: 'deletion', message: 'deletes refs/heads/old' };
    const notes = allowNotes({ kind: 'allow', reasons: [dryRun, exempt] });
    expect(notes).toEqual([expect.stringMatching(/^\[evaluate\] rule no-logs would deny: /), expect.stringMatching(/no-deletion.*exempt/)]);
  });
});
