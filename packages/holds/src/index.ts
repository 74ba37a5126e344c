/**
 * Held pushes: their lifecycle, their storage (the pack encrypted in chunks), the approval rules
 * (four eyes, quorum of distinct people, bound to one exact push), the relay of an approved push
 * exactly once, and the notifications about them.
 */
export * from './types';
export { HoldError, refusalError, type HoldErrorCode, type HoldFailureCode } from './errors';
export { loadHoldKey, holdKeyFromBytes, HOLD_KEY_FILE, type HoldKey } from './key';
export { holdDigest } from './digest';
export { DEFAULT_CHUNK_BYTES } from './cipher';
export {
  sameAccount,
  samePerson,
  inApproverGroups,
  missingApprovals,
  hasApproved,
  isExpired,
  checkReview,
  checkCancel,
  mayReview,
  type ReviewVerdict,
} from './rules';
export {
  createHoldStore,
  newHoldId,
  DEFAULT_HOLD_TTL_MS,
  DEFAULT_MAX_HELD_PACK_BYTES,
  ORPHAN_CHUNK_AGE_MS,
  HOLD_CHANNEL,
  type HoldStoreOptions,
} from './store';
export { backoffMs } from './backoff';
export { GATEWAY_OPTION_PREFIX, isGatewayPushOption, gatewayPushOptions, relayedPushOptions } from './push-options';
export {
  HoldRelayer,
  DEFAULT_RELAY_LEASE_MS,
  DEFAULT_RELAY_POLL_MS,
  DEFAULT_RELAY_RETRY,
  DEFAULT_RELAY_STOP_TIMEOUT_MS,
  type HoldRelayerOptions,
} from './relayer';
export {
  Webhooks,
  holdEventOf,
  holdLink,
  webhookBody,
  slackBody,
  webhookSignature,
  HOLD_EVENTS,
  DEFAULT_WEBHOOK_RETRY,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  DEFAULT_WEBHOOK_MAX_PENDING,
  type HoldEvent,
  type HoldWebhookBody,
  type WebhookRetry,
  type WebhookTarget,
  type WebhooksOptions,
} from './webhooks';
