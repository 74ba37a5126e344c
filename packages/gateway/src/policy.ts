/**
 * The policy as the push route applies it, in two steps (see @pushgate/policy):
 *
 *   scan     (change set, content) → ContentFindings   reads the pushed blobs the content rules need
 *   evaluate (PolicyInput)         → Decision          pure: no I/O
 *
 * The route depends on this interface, not on the engine, so tests can hand it a policy that
 * decides whatever they need; the composition root builds the real one from the config's `policy`.
 */
import type { ChangeContent, ChangeSet } from '@pushgate/changes';
import { compilePolicy, evaluate, scanContent, type ContentFindings, type Decision, type PolicyConfig, type PolicyInput } from '@pushgate/policy';

/** What the push route asks of the policy. */
export interface PushPolicy {
  /** Scans what the push adds for the content rules; rejects when content cannot be read (the push is then refused). */
  scan(changeSet: ChangeSet, content: ChangeContent): Promise<ContentFindings>;
  /** Decides about the push: pure, every matching rule's reasons in the result. */
  evaluate(input: PolicyInput): Decision;
}

/** Findings of a policy that reads no content. */
const NOTHING_SCANNED: ContentFindings = Object.freeze({ secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 });

/** The policy of a gateway configured without one: no rule, no content read, every inspected push allowed. */
export const NO_RULES: PushPolicy = Object.freeze({
  scan: async () => NOTHING_SCANNED,
  evaluate: (): Decision => ({ kind: 'allow', reasons: [] }),
});

/** The policy of a config's `policy` key (absent: no rules); compiled once, at start-up, so a bad pattern stops the gateway from starting. */
export function pushPolicy(config: PolicyConfig | undefined): PushPolicy {
  if (config === undefined) return NO_RULES;
  const policy = compilePolicy(config);
  return {
    scan: (changeSet, content) => scanContent({ changeSet, content, policy }),
    evaluate: (input) => evaluate(input, policy),
  };
}
