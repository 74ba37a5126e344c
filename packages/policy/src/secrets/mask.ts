/**
 * The one way a secret is shown: its first four characters then `****` (`AKIA****`). Everything
 * that leaves the scanner (findings, logs, audit records, messages to git) uses this form or the
 * fingerprint, never the secret itself.
 */
import { createHash } from 'node:crypto';

/** How many leading characters of a secret are shown. */
export const MASK_VISIBLE = 4;

/**
 * Masks `secret` as its first four characters followed by `****`. A secret shorter than eight
 * characters shows at most half of itself, so masking never gives most of a short password away.
 */
export function maskSecret(secret: string): string {
  const visible = Math.min(MASK_VISIBLE, Math.floor(secret.length / 2));
  return `${secret.slice(0, visible)}****`;
}

/** The SHA-256 of `secret` (UTF-8), lowercase hex: what allowlists and audit records name a secret by. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
