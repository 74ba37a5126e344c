/**
 * The policy as the push route applies it, in two steps (see @pushgate/policy):
 *
 *   scan     (change set, content) → ContentFindings   reads the pushed blobs the content rules need
 *   evaluate (PolicyInput)         → Decision          pure: no I/O
 *
 * and, for a policy that looks for secrets, a prescan: while a large pack is indexed, its blobs go
 * to a worker thread that runs the secret scanner on them beside the inspection, so that `scan`
 * finds most of its work done (packages/policy/src/prescan.ts).
 *
 * The route depends on this interface, not on the engine, so tests can hand it a policy that
 * decides whatever they need; the composition root builds the real one from the config's `policy`.
 */
import type { ChangeContent, ChangeSet } from '@pushgate/changes';
import type { Logger } from '@pushgate/core';
import {
  BlobScanPool,
  compilePolicy,
  evaluate,
  scanContent,
  type BlobPrescan,
  type ContentFindings,
  type Decision,
  type PolicyConfig,
  type PolicyInput,
  type PrescannedBlobs,
} from '@pushgate/policy';

/** What the push route asks of the policy. */
export interface PushPolicy {
  /**
   * Starts scanning a pack's blobs while it is indexed (fed from indexPack's `onObject`), or
   * undefined when the policy scans no content or the pack is too small to be worth it.
   */
  prescan?(packBytes: number): BlobPrescan | undefined;
  /** Scans what the push adds for the content rules; rejects when content cannot be read (the push is then refused). */
  scan(changeSet: ChangeSet, content: ChangeContent, prescanned?: PrescannedBlobs): Promise<ContentFindings>;
  /** Decides about the push: pure, every matching rule's reasons in the result. */
  evaluate(input: PolicyInput): Decision;
  /** Stops what the policy runs beside the pushes (the prescan's worker). */
  close?(): Promise<void>;
}

/**
 * Packs smaller than this are scanned when judged, on the request's thread: handing their few
 * blobs over is not worth it, and a small push must not queue behind a large one's batches.
 */
export const PRESCAN_MIN_PACK_BYTES = 1024 * 1024;

export interface PushPolicyOptions {
  /** Told when the prescan's worker fails or is missing (pushes are then scanned when judged). */
  readonly logger?: Logger;
  /** Packs of at least this many bytes are prescanned (PRESCAN_MIN_PACK_BYTES by default). */
  readonly prescanMinPackBytes?: number;
}

/** Findings of a policy that reads no content. */
const NOTHING_SCANNED: ContentFindings = Object.freeze({ secrets: [], unscanned: [], scannedBytes: 0, durationMs: 0 });

/** The policy of a gateway configured without one: no rule, no content read, every inspected push allowed. */
export const NO_RULES: PushPolicy = Object.freeze({
  scan: async () => NOTHING_SCANNED,
  evaluate: (): Decision => ({ kind: 'allow', reasons: [] }),
});

/** The policy of a config's `policy` key (absent: no rules); compiled once, at start-up, so a bad pattern stops the gateway from starting. */
export function pushPolicy(config: PolicyConfig | undefined, options: PushPolicyOptions = {}): PushPolicy {
  if (config === undefined) return NO_RULES;
  const policy = compilePolicy(config);
  const minBytes = options.prescanMinPackBytes ?? PRESCAN_MIN_PACK_BYTES;
  // One worker for every push, started by the first large one; only a policy that looks for secrets needs it.
  const pool = policy.needs.secrets
    ? new BlobScanPool(policy.config, { onError: (message) => options.logger?.warn('content prescan unavailable for now; pushes are scanned when judged', { message }) })
    : undefined;
  return {
    prescan: (packBytes) => (pool !== undefined && packBytes >= minBytes ? pool.begin() : undefined),
    scan: (changeSet, content, prescanned) => scanContent({ changeSet, content, policy, prescanned }),
    evaluate: (input) => evaluate(input, policy),
    close: async () => pool?.close(),
  };
}
