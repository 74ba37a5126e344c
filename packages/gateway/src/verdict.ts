/**
 * The judgement of an inspected push. Policy (rules over the change set and the pusher's
 * identity: force-push, protected paths, secrets, identities …) is a pure function that returns
 * one of these; until the policy engine is configured, every push that passes inspection is
 * allowed, and only inspection itself (malformed packs, hostile objects, limits, connectivity)
 * refuses pushes.
 */
import type { Identity } from '@pushgate/core';
import type { ChangeSet } from '@pushgate/changes';

/** Why a push is denied or held, pointing at what fired. */
export interface VerdictReason {
  readonly rule: string;
  readonly message: string;
  /** The refs it concerns; all refs when absent. */
  readonly refs?: readonly string[];
}

/** What happens to an inspected push (holds join this union with the hold-and-relay workflow). */
export type Verdict = { readonly kind: 'allow' } | { readonly kind: 'deny'; readonly reasons: readonly VerdictReason[] };

/** Judges a push: (change set, identity) → verdict, with no I/O. */
export type Judge = (changeSet: ChangeSet, identity: Identity) => Verdict;

/** The judge in force until policy rules are configured: inspection decides, nothing else refuses. */
export const allowInspected: Judge = () => ({ kind: 'allow' });
