/**
 * The approval rules, as pure functions of a hold, an identity and the time (the store applies
 * them inside its transactions; pages and the API use them to show what a caller may do):
 *
 * - four eyes: nobody approves or rejects their own push (same subject and issuer, or the same
 *   email when both have one), admins included;
 * - a reviewer is in at least one group of one of the hold's approvers entries;
 * - the quorum counts distinct people per entry (one person in two of its groups counts once),
 *   and only approvals of this exact push (the hold's digest);
 * - only a pending hold before its expiry can be decided; only its pusher may cancel it.
 */
import type { Identity } from '@pushgate/core';
import type { Approvers } from '@pushgate/policy';
import type { Approval, HoldRecord, HoldRefusal, HoldRefusalCode, Person } from './types';

/** Who someone is, for comparing people. */
type Someone = Pick<Person, 'sub' | 'issuer' | 'email'>;

/** Same subject at the same issuer. */
export function sameAccount(a: Someone, b: Someone): boolean {
  return a.sub === b.sub && a.issuer === b.issuer;
}

/** The same person: the same account, or the same email when both have one (two accounts of one person). */
export function samePerson(a: Someone, b: Someone): boolean {
  if (sameAccount(a, b)) return true;
  return a.email !== undefined && b.email !== undefined && a.email !== '' && a.email.toLowerCase() === b.email.toLowerCase();
}

/** Whether `groups` meets at least one group of `entry`. */
function meets(groups: readonly string[], entry: Approvers): boolean {
  return entry.groups.some((g) => groups.includes(g));
}

/** Whether `identity` is in at least one group of one of the hold's approvers entries. */
export function inApproverGroups(approvers: readonly Approvers[], identity: Pick<Identity, 'groups'>): boolean {
  return approvers.some((entry) => meets(identity.groups, entry));
}

/**
 * What each unmet approvers entry still needs: for every entry, the distinct people (subject and
 * issuer) among the approvals of this push (its digest) whose groups meet the entry's, against its
 * count. Empty when the quorum is met.
 */
export function missingApprovals(hold: Pick<HoldRecord, 'approvers' | 'approvals' | 'digest'>): Approvers[] {
  const valid = hold.approvals.filter((a) => a.digest === hold.digest);
  const missing: Approvers[] = [];
  for (const entry of hold.approvers) {
    const people = new Set<string>();
    for (const a of valid) {
      // JSON of the pair: no separator a subject could contain makes two people one.
      if (meets(a.by.groups, entry)) people.add(JSON.stringify([a.by.sub, a.by.issuer]));
    }
    if (people.size < entry.count) missing.push({ groups: entry.groups, count: entry.count - people.size });
  }
  return missing;
}

/** Whether `identity` has an approval on this hold already. */
export function hasApproved(hold: Pick<HoldRecord, 'approvals'>, identity: Someone): boolean {
  return hold.approvals.some((a: Approval) => sameAccount(a.by, identity));
}

function refusal(status: HoldRefusal['status'], code: HoldRefusalCode, message: string): HoldRefusal {
  return { kind: 'refused', status, code, message };
}

/** Whether a pending hold's time is up. */
export function isExpired(hold: Pick<HoldRecord, 'state'>, now: Date): boolean {
  return hold.state.kind === 'pending' && hold.state.expiresAt.getTime() <= now.getTime();
}

/**
 * What becomes of an action on a hold that is not pending any more, or whose time is up: a
 * refusal, or `expire` (the caller marks it expired, then refuses with HOLD_EXPIRED).
 */
function stateCheck(hold: HoldRecord, now: Date): HoldRefusal | 'expire' | undefined {
  if (hold.state.kind !== 'pending') {
    return refusal(409, hold.state.kind === 'expired' ? 'HOLD_EXPIRED' : 'HOLD_NOT_PENDING', `hold ${hold.id} is ${hold.state.kind}, not pending`);
  }
  if (isExpired(hold, now)) return 'expire';
  return undefined;
}

/** The refusal of an expired hold. */
export function expiredRefusal(hold: Pick<HoldRecord, 'id'>): HoldRefusal {
  return refusal(409, 'HOLD_EXPIRED', `hold ${hold.id} has expired`);
}

/** What the store is to do with an approval or a rejection. */
export type ReviewVerdict = { readonly kind: 'allowed' } | { readonly kind: 'expire' } | HoldRefusal;

/**
 * Checks an approval (`approve`) or a rejection (`reject`) by `identity` now. Order: state and
 * expiry, four eyes, groups, then what the action itself needs (the exact push and one vote per
 * person for an approval, a comment for a rejection).
 */
export function checkReview(
  hold: HoldRecord,
  identity: Identity,
  now: Date,
  action: { readonly kind: 'approve'; readonly digest?: string } | { readonly kind: 'reject'; readonly comment: string },
): ReviewVerdict {
  const state = stateCheck(hold, now);
  if (state === 'expire') return { kind: 'expire' };
  if (state !== undefined) return state;
  const verb = action.kind === 'approve' ? 'approve' : 'reject';
  if (samePerson(hold.pusher, identity)) {
    return refusal(403, 'HOLD_SELF_APPROVAL', `you pushed hold ${hold.id}: nobody may ${verb} their own push`);
  }
  if (!inApproverGroups(hold.approvers, identity)) {
    const groups = [...new Set(hold.approvers.flatMap((a) => a.groups))].join(', ');
    return refusal(403, 'HOLD_NOT_APPROVER', `hold ${hold.id} needs a reviewer in ${groups === '' ? 'no group' : `one of: ${groups}`}`);
  }
  if (action.kind === 'approve') {
    if (action.digest !== undefined && action.digest !== hold.digest) {
      return refusal(409, 'HOLD_DIGEST_MISMATCH', `hold ${hold.id} is not the push you reviewed (digest ${action.digest}, hold's ${hold.digest})`);
    }
    if (hasApproved(hold, identity)) return refusal(409, 'HOLD_ALREADY_APPROVED', `you approved hold ${hold.id} already`);
  } else if (action.comment.trim() === '') {
    return refusal(400, 'HOLD_COMMENT_REQUIRED', `rejecting hold ${hold.id} needs a comment saying why`);
  }
  return { kind: 'allowed' };
}

/** Checks a cancellation by `identity` now: only the pusher (same account), only while pending. */
export function checkCancel(hold: HoldRecord, identity: Identity, now: Date): ReviewVerdict {
  if (!sameAccount(hold.pusher, identity)) return refusal(403, 'HOLD_NOT_PUSHER', `only the pusher may cancel hold ${hold.id}`);
  const state = stateCheck(hold, now);
  if (state === 'expire') return { kind: 'expire' };
  return state ?? { kind: 'allowed' };
}

/** Whether `identity` may approve or reject this hold now (pending, not expired, not theirs, in a group, no vote yet). */
export function mayReview(hold: HoldRecord, identity: Identity, now: Date = new Date()): boolean {
  const verdict = checkReview(hold, identity, now, { kind: 'approve' });
  return verdict.kind === 'allowed';
}
