/**
 * The hold step's pure parts: which pushes are stale, what `-o wait` asks for, and what the pusher
 * is answered for each way a hold can end. The hold stored, waited for and relayed through the
 * real git client is in holds.e2e.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { ZERO_OID, type Oid } from '@pushgate/core';
import type { HoldRecord, HoldState, Person } from '@pushgate/holds';
import { movedRefs, staleReason, waitAnswer, waitRequest, type HoldDecision } from './hold';

const A = 'a'.repeat(40) as Oid;
const B = 'b'.repeat(40) as Oid;
const C = 'c'.repeat(40) as Oid;
const HOUR = 3_600_000;

const alice: Person = { sub: 'alice', issuer: 'http://pushgate.test', email: 'alice@example.com', groups: [], agent: false };
const bob: Person = { sub: 'bob', issuer: 'http://pushgate.test', email: 'bob@example.com', groups: ['release-managers'], agent: false };
const decision: HoldDecision = {
  kind: 'hold',
  reasons: [{ rule: 'protected-deploy', mode: 'enforce', outcome: 'hold', condition: 'paths', message: 'adds deploy/x.sh', ref: 'refs/heads/main', path: 'deploy/x.sh', approvers: { groups: ['release-managers'], count: 1 } }],
  approvers: [{ groups: ['release-managers'], count: 1 }],
};
const REFS = ['refs/heads/main', 'refs/heads/other'];
const at = new Date('2026-01-01T00:00:00Z');

function hold(state: HoldState): HoldRecord {
  return {
    id: 'h7k2m9q4x8c3',
    pushId: 'req-1',
    state,
    createdAt: at,
    updatedAt: at,
    upstream: 'local',
    repo: 'app.git',
    pusher: alice,
    commands: [
      { ref: 'refs/heads/main', oldOid: A, newOid: B },
      { ref: 'refs/heads/other', oldOid: ZERO_OID, newOid: B },
    ],
    capabilities: ['report-status', 'side-band-64k'],
    pushOptions: ['wait'],
    pack: undefined,
    digest: 'd'.repeat(64),
    summary: {},
    decision,
    approvers: decision.approvers,
    approvals: [{ by: bob, at, digest: 'd'.repeat(64) }],
  };
}

const answer = (state: HoldState) => waitAnswer({ kind: 'final', hold: hold(state) }, REFS, decision, 'https://gate.example.com', 'req-2');
const reasons = (a: ReturnType<typeof answer>) => a.report.refs.map((r) => (r.ok ? 'ok' : r.reason));

describe('the hold step', () => {
  it('finds the refs whose old id is not the upstream ref inspection saw, creations and deletions included', () => {
    const refs = new Map([
      ['refs/heads/main', A],
      ['refs/heads/gone', C],
      ['refs/tags/v1', A],
    ]);
    expect(
      movedRefs(
        [
          { ref: 'refs/heads/main', oldOid: A, newOid: B },
          { ref: 'refs/heads/new', oldOid: ZERO_OID, newOid: B },
          { ref: 'refs/heads/gone', oldOid: B, newOid: ZERO_OID },
          { ref: 'refs/tags/v1', oldOid: ZERO_OID, newOid: B },
          { ref: 'refs/heads/deleted-meanwhile', oldOid: A, newOid: B },
        ],
        refs,
      ),
    ).toEqual([
      { ref: 'refs/heads/gone', expected: B, actual: C },
      { ref: 'refs/tags/v1', expected: ZERO_OID, actual: A },
      { ref: 'refs/heads/deleted-meanwhile', expected: A, actual: ZERO_OID },
    ]);
    expect(staleReason({ ref: 'refs/heads/main', expected: A, actual: C })).toBe("stale: the upstream's refs/heads/main is at ccccccc, not aaaaaaa; fetch, rebase and push again");
    expect(staleReason({ ref: 'refs/tags/v1', expected: ZERO_OID, actual: A })).toBe("stale: the upstream's refs/tags/v1 already exists (at aaaaaaa); fetch, rebase and push again");
    expect(staleReason({ ref: 'refs/heads/x', expected: A, actual: ZERO_OID })).toBe("stale: the upstream's refs/heads/x is gone (the push expected aaaaaaa); fetch, rebase and push again");
  });

  it.each<[string, readonly string[], ReturnType<typeof waitRequest>]>([
    ['no options', [], { kind: 'none' }],
    ['other options only', ['ci.skip', 'topic=x'], { kind: 'none' }],
    ['wait alone: the longest wait', ['wait'], { kind: 'wait', ms: HOUR }],
    ['wait=<seconds>', ['wait=30'], { kind: 'wait', ms: 30_000 }],
    ['wait=<seconds> beyond maxWait: capped', ['wait=86400'], { kind: 'wait', ms: HOUR }],
    ['wait=0: no wait', ['wait=0'], { kind: 'none' }],
    ['the last one counts', ['wait=5', 'wait'], { kind: 'wait', ms: HOUR }],
    ['a value that is not seconds', ['wait=soon'], { kind: 'invalid', option: 'wait=soon' }],
    ['not ours', ['waiting', 'await'], { kind: 'none' }],
  ])('-o wait: %s', (_name, options, expected) => {
    expect(waitRequest(options, HOUR)).toEqual(expected);
  });
});

describe('the answer that ends a wait', () => {
  it('relayed: the upstream\'s own per-ref answer and messages', () => {
    const a = answer({ kind: 'relayed', approvedAt: at, finishedAt: at, report: { unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ok' }, { ref: 'refs/heads/other', status: 'ok' }], messages: ['Resolving deltas: 100% (3/3), done.', 'hook says hi\n'] } });
    expect(a.report).toEqual({ unpack: { ok: true }, refs: [{ ref: 'refs/heads/main', ok: true }, { ref: 'refs/heads/other', ok: true }] });
    expect(a.lines).toEqual(['pushgate: h7k2m9q4x8c3 approved by bob@example.com and relayed to the upstream: https://gate.example.com/review/holds/h7k2m9q4x8c3', 'Resolving deltas: 100% (3/3), done.', 'hook says hi']);
  });

  it('stale: the moved ref says where the upstream is', () => {
    const a = answer({ kind: 'stale', approvedAt: at, finishedAt: at, moved: [{ ref: 'refs/heads/main', expected: A, actual: C }] });
    expect(reasons(a)).toEqual(["stale: the upstream's refs/heads/main is at ccccccc, not aaaaaaa; fetch, rebase and push again", 'not applied: another ref of this push was stale']);
  });

  it('upstream-rejected: the upstream\'s message, per ref when it reported them', () => {
    const plain = answer({ kind: 'upstream-rejected', approvedAt: at, finishedAt: at, message: 'pre-receive hook declined' });
    expect(reasons(plain)).toEqual(['the upstream refused the held push: pre-receive hook declined', 'the upstream refused the held push: pre-receive hook declined']);
    const reported = answer({
      kind: 'upstream-rejected',
      approvedAt: at,
      finishedAt: at,
      message: 'pre-receive hook declined',
      report: { unpack: 'ok', refs: [{ ref: 'refs/heads/main', status: 'ng', reason: 'pre-receive hook declined' }, { ref: 'refs/heads/other', status: 'ng', reason: 'pre-receive hook declined' }], messages: ['no deploys on Fridays'] },
    });
    expect(reasons(reported)).toEqual(['pre-receive hook declined', 'pre-receive hook declined']);
    expect(reported.lines).toContain('no deploys on Fridays');
  });

  it('rejected, cancelled, expired: every ref ng, saying so', () => {
    expect(reasons(answer({ kind: 'rejected', at, by: bob, comment: 'not before the release' }))).toEqual(['rejected by bob@example.com: not before the release', 'rejected by bob@example.com: not before the release']);
    expect(reasons(answer({ kind: 'cancelled', at, by: alice }))[0]).toBe('held push cancelled by alice@example.com (h7k2m9q4x8c3)');
    expect(reasons(answer({ kind: 'expired', at }))[0]).toBe('held push expired before it was approved (h7k2m9q4x8c3)');
  });

  it('timeout: still held, with the link and "still pending"', () => {
    const a = waitAnswer({ kind: 'timeout', why: 'time', hold: hold({ kind: 'pending', expiresAt: at }) }, REFS, decision, 'https://gate.example.com', 'req-2');
    expect(reasons(a)).toEqual(['held for approval (h7k2m9q4x8c3)', 'held for approval (h7k2m9q4x8c3)']);
    expect(a.lines[0]).toBe('Push held for approval: https://gate.example.com/review/holds/h7k2m9q4x8c3; nothing was pushed yet.');
    expect(a.lines).toContain('pushgate: h7k2m9q4x8c3 is still pending: https://gate.example.com/review/holds/h7k2m9q4x8c3');
  });

  it('timeout once approved: not "held" any more, and not said to have landed either', () => {
    for (const state of [
      { kind: 'approved' as const, approvedAt: at, attempts: 1, nextAttemptAt: at },
      { kind: 'relaying' as const, approvedAt: at, attempts: 1, owner: 'gw-1', leaseUntil: at },
    ]) {
      const a = waitAnswer({ kind: 'timeout', why: 'time', hold: hold(state) }, REFS, decision, 'https://gate.example.com', 'req-3');
      expect(reasons(a)).toEqual(['approved; the gateway is relaying it (h7k2m9q4x8c3)', 'approved; the gateway is relaying it (h7k2m9q4x8c3)']);
      expect(a.lines.join('\n')).not.toMatch(/held for approval|nothing was pushed|nothing was sent/);
      expect(a.lines[0]).toContain('https://gate.example.com/review/holds/h7k2m9q4x8c3');
    }
  });
});
