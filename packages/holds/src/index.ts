/**
 * Held pushes: their lifecycle, their storage (the pack encrypted in chunks), the approval rules
 * (four eyes, quorum of distinct people, bound to one exact push), the relay of an approved push
 * exactly once, and the notifications about them.
 */
export * from './types';
export * from './backoff';
export * from './webhooks';
export * from './push-options';
export * from './relayer';
