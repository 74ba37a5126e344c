export * from './types';
export * from './errors';
export * from './options';
export { buildChangeSet, PROGRESS_STAGE, type BuildChangeSetInput } from './build';
export { summarize, type ChangeSetSummary, type RefSummary } from './summary';
export { summarizeFileChange } from './table';
export { ChangeContent, type BlobContent, type BlobSite, type ChangeContentInput, type ContentCounters, type NewBlob } from './content';
export { MAX_SCORE, estimateSimilarity, hashChars, isBinary, srcCopied, type SimilarityInput, type SpanHash } from './similarity';
