/** The approval rules, table by table: four eyes, groups, quorum of distinct people, state and time. */
import { describe, expect, it } from '@jest/globals';
import type { Identity } from '@pushgate/core';
import type { Approvers } from '@pushgate/policy';
import { checkCancel, checkReview, mayReview, missingApprovals, samePerson } from './rules';
import { ISSUER, newHold, someone } from './store.test-support';
import type { Approval, HoldRecord, HoldState } from './types';

const NOW = new Date('2026-03-01T10:00:00.000Z');
const LATER = new Date('2026-03-02T10:00:00.000Z');
const DIGEST = 'd'.repeat(64);

function hold(approvers: readonly Approvers[], approvals: readonly Approval[] = [], state: HoldState = { kind: 'pending', expiresAt: LATER }, pusher: Identity = someone('alice', ['dev'], 'alice@example.com')): HoldRecord {
  const input = newHold(pusher, approvers);
  return {
    id: 'h7k2m9q4x8c3',
    pushId: input.pushId,
    state,
    createdAt: NOW,
    updatedAt: NOW,
    upstream: input.upstream,
    repo: input.repo,
    pusher: { ...pusher, groups: [...pusher.groups] },
    commands: input.commands,
    capabilities: input.capabilities,
    pushOptions: input.pushOptions,
    pack: undefined,
    digest: DIGEST,
    summary: input.summary,
    decision: input.decision,
    approvers,
    approvals,
  };
}

const vote = (sub: string, groups: string[], digest = DIGEST, issuer = ISSUER): Approval => ({ by: { sub, issuer, groups, agent: false }, at: NOW, digest });

describe('samePerson', () => {
  it.each([
    ['same subject and issuer', { sub: 'a', issuer: 'i' }, { sub: 'a', issuer: 'i' }, true],
    ['same subject, other issuer', { sub: 'a', issuer: 'i' }, { sub: 'a', issuer: 'j' }, false],
    ['same email, any case, other account', { sub: 'a', issuer: 'i', email: 'A@x.org' }, { sub: 'b', issuer: 'j', email: 'a@X.org' }, true],
    ['one without email', { sub: 'a', issuer: 'i', email: 'a@x.org' }, { sub: 'b', issuer: 'i' }, false],
    ['both empty emails', { sub: 'a', issuer: 'i', email: '' }, { sub: 'b', issuer: 'i', email: '' }, false],
  ])('%s', (_name, a, b, expected) => {
    expect(samePerson(a, b)).toBe(expected);
    expect(samePerson(b, a)).toBe(expected);
  });
});

describe('missingApprovals', () => {
  const two = [{ groups: ['reviewers', 'security'], count: 2 }];
  it.each<[string, readonly Approvers[], Approval[], Approvers[]]>([
    ['nobody yet', two, [], [{ groups: ['reviewers', 'security'], count: 2 }]],
    ['one of two', two, [vote('bob', ['reviewers'])], [{ groups: ['reviewers', 'security'], count: 1 }]],
    ['two distinct people', two, [vote('bob', ['reviewers']), vote('carol', ['security'])], []],
    ['one person in both groups counts once', two, [vote('carol', ['reviewers', 'security'])], [{ groups: ['reviewers', 'security'], count: 1 }]],
    ['one subject at two issuers is two accounts', two, [vote('bob', ['reviewers']), vote('bob', ['reviewers'], DIGEST, 'https://other')], []],
    ['an approval of another push does not count', two, [vote('bob', ['reviewers']), vote('carol', ['security'], 'e'.repeat(64))], [{ groups: ['reviewers', 'security'], count: 1 }]],
    ['an approver outside the groups does not count', two, [vote('bob', ['reviewers']), vote('mallory', ['marketing'])], [{ groups: ['reviewers', 'security'], count: 1 }]],
    [
      'every entry must be met',
      [{ groups: ['reviewers'], count: 1 }, { groups: ['security'], count: 1 }],
      [vote('bob', ['reviewers'])],
      [{ groups: ['security'], count: 1 }],
    ],
    ['one person may meet two entries', [{ groups: ['reviewers'], count: 1 }, { groups: ['security'], count: 1 }], [vote('carol', ['reviewers', 'security'])], []],
  ])('%s', (_name, approvers, approvals, expected) => {
    expect(missingApprovals(hold(approvers, approvals))).toEqual(expected);
  });
});

describe('checkReview', () => {
  const need = [{ groups: ['reviewers'], count: 1 }];
  const bob = someone('bob', ['reviewers'], 'bob@example.com');
  const relaying: HoldState = { kind: 'relaying', approvedAt: NOW, attempts: 1, owner: 'r', leaseUntil: LATER };
  it.each<[string, HoldRecord, Identity, Date, Parameters<typeof checkReview>[3], string]>([
    ['a reviewer approves', hold(need), bob, NOW, { kind: 'approve' }, 'allowed'],
    ['with the right digest', hold(need), bob, NOW, { kind: 'approve', digest: DIGEST }, 'allowed'],
    ['with another digest', hold(need), bob, NOW, { kind: 'approve', digest: 'e'.repeat(64) }, 'HOLD_DIGEST_MISMATCH'],
    ['the pusher, even in the group', hold(need, [], undefined, someone('alice', ['reviewers'])), someone('alice', ['reviewers', 'admins']), NOW, { kind: 'approve' }, 'HOLD_SELF_APPROVAL'],
    ['the pusher under another account (same email)', hold(need), someone('alice-admin', ['reviewers'], 'ALICE@example.com'), NOW, { kind: 'approve' }, 'HOLD_SELF_APPROVAL'],
    ['outside every group', hold(need), someone('mallory', ['marketing']), NOW, { kind: 'approve' }, 'HOLD_NOT_APPROVER'],
    ['twice', hold(need, [vote('bob', ['reviewers'])]), bob, NOW, { kind: 'approve' }, 'HOLD_ALREADY_APPROVED'],
    ['at the expiry instant', hold(need), bob, LATER, { kind: 'approve' }, 'expire'],
    ['an expired hold', hold(need, [], { kind: 'expired', at: NOW }), bob, NOW, { kind: 'approve' }, 'HOLD_EXPIRED'],
    ['a relaying hold', hold(need, [], relaying), bob, NOW, { kind: 'approve' }, 'HOLD_NOT_PENDING'],
    ['a rejection with a comment', hold(need), bob, NOW, { kind: 'reject', comment: 'no' }, 'allowed'],
    ['a rejection without', hold(need), bob, NOW, { kind: 'reject', comment: ' \n' }, 'HOLD_COMMENT_REQUIRED'],
    ['a rejection by the pusher', hold(need), someone('alice', ['reviewers']), NOW, { kind: 'reject', comment: 'no' }, 'HOLD_SELF_APPROVAL'],
    ['a rejection after approving', hold(need, [vote('bob', ['reviewers'])]), bob, NOW, { kind: 'reject', comment: 'changed my mind' }, 'allowed'],
  ])('%s', (_name, h, identity, now, action, expected) => {
    const verdict = checkReview(h, identity, now, action);
    expect(verdict.kind === 'refused' ? verdict.code : verdict.kind).toBe(expected);
    if (verdict.kind === 'refused') expect(verdict.status).toBe({ HOLD_SELF_APPROVAL: 403, HOLD_NOT_APPROVER: 403, HOLD_COMMENT_REQUIRED: 400 }[verdict.code as string] ?? 409);
  });

  it('says who may review for pages and lists', () => {
    expect(mayReview(hold(need), bob, NOW)).toBe(true);
    expect(mayReview(hold(need, [vote('bob', ['reviewers'])]), bob, NOW)).toBe(false);
    expect(mayReview(hold(need), bob, LATER)).toBe(false);
    expect(mayReview(hold(need), someone('alice', ['reviewers']), NOW)).toBe(false);
  });
});

describe('checkCancel', () => {
  const need = [{ groups: ['reviewers'], count: 1 }];
  it.each<[string, HoldRecord, Identity, Date, string]>([
    ['the pusher', hold(need), someone('alice', []), NOW, 'allowed'],
    ['someone else, even an admin reviewer', hold(need), someone('bob', ['reviewers', 'admins']), NOW, 'HOLD_NOT_PUSHER'],
    ['another account with the same email', hold(need), someone('alice-2', [], 'alice@example.com'), NOW, 'HOLD_NOT_PUSHER'],
    ['after expiry', hold(need), someone('alice', []), LATER, 'expire'],
    ['once decided', hold(need, [], { kind: 'rejected', at: NOW, by: { sub: 'bob', issuer: ISSUER, groups: [], agent: false }, comment: 'no' }), someone('alice', []), NOW, 'HOLD_NOT_PENDING'],
  ])('%s', (_name, h, identity, now, expected) => {
    const verdict = checkCancel(h, identity, now);
    expect(verdict.kind === 'refused' ? verdict.code : verdict.kind).toBe(expected);
  });
});
