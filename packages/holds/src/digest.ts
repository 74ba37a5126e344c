/**
 * What an approval binds to: one exact push. The digest covers the upstream, the repository, every
 * command (ref, old id, new id, in order) and the pack's SHA-256, each length-prefixed so that no
 * two different pushes encode alike (moving text from a ref name into the repo path changes it).
 */
import { createHash } from 'node:crypto';
import type { RefUpdate } from '@pushgate/core';

const DOMAIN = 'pushgate-hold-digest-v1';

/** SHA-256 hex of a held push's identity (see the module comment); `packSha256` absent for a push that only deletes. */
export function holdDigest(upstream: string, repo: string, commands: readonly RefUpdate[], packSha256: string | undefined): string {
  const h = createHash('sha256');
  const field = (s: string): void => {
    h.update(`${Buffer.byteLength(s)}:`).update(s, 'utf8');
  };
  field(DOMAIN);
  field(upstream);
  field(repo);
  field(String(commands.length));
  for (const c of commands) {
    field(c.ref);
    field(c.oldOid);
    field(c.newOid);
  }
  // "-" (no pack) cannot be confused with a 64-hex digest.
  field(packSha256 ?? '-');
  return h.digest('hex');
}
