/** @pushgate/policy: what a push may contain. So far, the secret-detection engine. */
export * from './secrets/index';
export { SecretsConfigError, type SecretsConfigErrorCode, type SecretsConfigErrorData } from './errors';
export type { Approvers, ContentFindings, Decision, PolicyInput, Reason, RuleAction, RuleMode, SecretHit, Unscanned } from './types';
