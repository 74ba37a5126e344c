/** @pushgate/policy: what a push may contain — the rules, the content scan and the decision. */
export * from './secrets/index';
export { PolicyConfigError, SecretsConfigError, type PolicyConfigErrorCode, type SecretsConfigErrorCode, type SecretsConfigErrorData } from './errors';
export type { Approvers, ContentFindings, Decision, PolicyInput, Reason, ReasonSource, RuleAction, RuleMode, SecretFileHit, SecretHit, Unscanned } from './types';
export {
  ActorsSchema,
  ApproversSchema,
  ConditionsSchema,
  ExceptSchema,
  PolicyConfigSchema,
  RuleSchema,
  SecretsSchema,
  TAG_CHANGES,
  UNSCANNABLE_REASONS,
  describePolicyIssue,
  formatIssuePath,
  parsePolicyConfig,
  type ConditionName,
  type PolicyConditions,
  type PolicyConfig,
  type PolicyConfigInput,
  type PolicyConfigResult,
  type PolicyRule,
  type PolicySecrets,
} from './config';
export { compileNameGlob, type GlobSegments, type NameGlob } from './globs';
export {
  CompiledPolicy,
  MAX_PATTERN_INPUT,
  compilePathGlob,
  compilePattern,
  compilePolicy,
  type CompiledActors,
  type CompiledMatch,
  type CompiledPattern,
  type CompiledRule,
  type RulePathGlob,
} from './compile';
export { MAX_REASONS_PER_RULE, decide, describeFileChange, describeRefChange, evaluate, formatBytes, repoName } from './evaluate';
export { scanContent, type ContentSource, type ScanContentInput } from './content';
export {
  BlobScanPool,
  MAX_PRESCAN_BLOB_BYTES,
  prescanWorkerScript,
  type BlobPrescan,
  type BlobScanPoolOptions,
  type PrescanStats,
  type PrescannedBlob,
  type PrescannedBlobs,
} from './prescan';
export { MAX_REMOTE_FINDINGS, renderDecision, type RenderOptions, type RenderedDecision } from './render';
