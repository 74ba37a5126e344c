/**
 * What policy decides about a push, as data. The engine is two steps:
 *
 *   scanContent(changeSet, content, policy)  → ContentFindings   (async: reads blobs on demand)
 *   evaluate(PolicyInput, policy)            → Decision          (pure: no I/O, table-testable)
 *
 * Every matching rule is reported; the most restrictive outcome wins (deny > hold > allow); rules
 * in `evaluate` mode are reported on any decision but never change it; a rule's exemption is
 * reported too. No rule matches → allow.
 */
import type { Identity, Oid } from '@pushgate/core';
import type { ChangeSet } from '@pushgate/changes';
import type { ConditionName } from './config';

/** What a rule does when it matches. */
export type RuleAction = 'allow' | 'deny' | 'hold';

/** `enforce` decides; `evaluate` is a dry run (reported and audited, never decides); `off` is ignored. */
export type RuleMode = 'enforce' | 'evaluate' | 'off';

/** Who must approve a held push: `count` distinct people from any of `groups`. */
export interface Approvers {
  readonly groups: readonly string[];
  readonly count: number;
}

/** One reason a rule matched: which rule, with what outcome, and where (as precisely as known). */
export interface Reason {
  readonly rule: string;
  readonly mode: Exclude<RuleMode, 'off'>;
  readonly outcome: RuleAction;
  /** What matched, in words a git user understands (a secret appears masked: first 4 characters and `****`). */
  readonly message: string;
  /** True when the pusher is exempt from the rule (reported and audited, does not decide). */
  readonly exempt?: boolean;
  readonly ref?: string;
  readonly commit?: Oid;
  readonly path?: string;
  readonly line?: number;
  /** The finding itself, masked (e.g. the detector id and `AKIA****`). */
  readonly finding?: string;
  /** For hold: who may approve. */
  readonly approvers?: Approvers;
  /** What produced it: a condition of `when`, the `paths` scope, the rule's scopes alone, or the note that a rule's list was cut short. */
  readonly condition?: ReasonSource;
}

/** What a reason comes from (the renderer picks its advice from this). */
export type ReasonSource = ConditionName | 'paths' | 'scope' | 'truncated';

/** The decision about one push; every matching rule's reasons travel with it. */
export type Decision =
  | { readonly kind: 'allow'; readonly reasons: readonly Reason[] }
  | { readonly kind: 'deny'; readonly reasons: readonly Reason[] }
  | { readonly kind: 'hold'; readonly reasons: readonly Reason[]; readonly approvers: readonly Approvers[] };

/** A secret found in a line a push adds. */
export interface SecretHit {
  readonly commit: Oid;
  readonly path: string;
  readonly line: number;
  readonly detector: string;
  readonly masked: string;
  /** SHA-256 of the secret, hex (for allowlists and de-duplication; never the secret). */
  readonly fingerprint: string;
}

/** Content that could not be scanned, so a secret could hide in it. */
export interface Unscanned {
  readonly commit: Oid;
  readonly path: string;
  readonly reason: 'binary' | 'too-large' | 'budget-exhausted';
  readonly detail: string;
}

/** A file that holds credentials by its content, where its name alone does not say so (`.npmrc` with an auth token). */
export interface SecretFileHit {
  readonly commit: Oid;
  readonly path: string;
  /** What matched, e.g. `.npmrc with auth`. */
  readonly rule: string;
}

/** What the content scan found: the input of the content conditions (secrets, unscannable, secretFiles). */
export interface ContentFindings {
  readonly secrets: readonly SecretHit[];
  readonly unscanned: readonly Unscanned[];
  /** Files whose content makes them credential files (absent when no rule asked). */
  readonly secretFiles?: readonly SecretFileHit[];
  /** Bytes of blob content scanned, and how long it took (for the audit record and benchmarks). */
  readonly scannedBytes: number;
  /** Blobs whose scan was done ahead, while the push was inspected (prescan.ts); absent without a prescan. */
  readonly scannedAhead?: number;
  readonly durationMs: number;
}

/** Everything `evaluate` judges: the push, who pushed it, and what its content holds. */
export interface PolicyInput {
  /** The upstream's configured name. */
  readonly upstream: string;
  /** The repository path at the upstream (e.g. `acme/app.git`). */
  readonly repo: string;
  readonly identity: Identity;
  /** Push options as sent (`key` or `key=value`). */
  readonly pushOptions: readonly string[];
  readonly changeSet: ChangeSet;
  readonly content: ContentFindings;
}
