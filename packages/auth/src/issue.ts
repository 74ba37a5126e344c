/** Gateway-issued tokens: what `pushgate token issue` prints and the gateway itself accepts. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { checkTtl, parseDuration, DEFAULT_MAX_TOKEN_TTL_SEC } from './duration';
import { AuthError } from './errors';
import type { GatewaySigningKeys } from './signing-keys';

/** What a gateway token says about its holder. */
export interface IssueTokenOptions {
  /** The gateway's issuer (`gateway.issuer` in config), put in `iss`. */
  readonly issuer: string;
  /** The gateway's audience (`gateway.audience` in config), put in `aud`. */
  readonly audience: string;
  readonly sub: string;
  readonly email?: string;
  readonly groups?: readonly string[];
  /** Whether the holder is an AI agent, written as a boolean under `agentClaim`. */
  readonly agent?: boolean;
  /** The configured agent claim name (`agentClaim` in config). */
  readonly agentClaim: string;
  /** Lifetime: a duration such as `1h`, or seconds. */
  readonly ttl: string | number;
  /** Longest lifetime accepted; default DEFAULT_MAX_TOKEN_TTL_SEC (30 days). */
  readonly maxTtlSec?: number;
}

/** Claims a gateway token sets itself; the agent claim must not be one of them. */
export const GATEWAY_TOKEN_CLAIMS: readonly string[] = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'email', 'groups'];

/** Signs a gateway token (EdDSA, with `iat`, `exp` and a random `jti`) for one identity. */
export async function issueToken(keys: GatewaySigningKeys, options: IssueTokenOptions): Promise<string> {
  const maxTtlSec = options.maxTtlSec ?? DEFAULT_MAX_TOKEN_TTL_SEC;
  const ttlSec = typeof options.ttl === 'string' ? parseDuration(options.ttl, maxTtlSec) : checkTtl(options.ttl, maxTtlSec);
  if (GATEWAY_TOKEN_CLAIMS.includes(options.agentClaim) || options.agentClaim === '') {
    throw new AuthError('AUTH_CONFIG_INVALID', `agentClaim "${options.agentClaim}" collides with a claim gateway tokens set`, {
      agentClaim: options.agentClaim,
    });
  }
  requireText('AUTH_CONFIG_INVALID', 'issuer', options.issuer);
  requireText('AUTH_CONFIG_INVALID', 'audience', options.audience);
  requireText('AUTH_BAD_ISSUE_REQUEST', 'sub', options.sub);
  if (options.email !== undefined) requireText('AUTH_BAD_ISSUE_REQUEST', 'email', options.email);
  const groups = options.groups ?? [];
  for (const g of groups) requireText('AUTH_BAD_ISSUE_REQUEST', 'groups', g);

  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { groups: [...new Set(groups)], [options.agentClaim]: options.agent === true };
  if (options.email !== undefined) claims['email'] = options.email;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: keys.alg, kid: keys.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSec)
    .setJti(randomUUID())
    .sign(keys.privateKey);
}

function requireText(code: 'AUTH_CONFIG_INVALID' | 'AUTH_BAD_ISSUE_REQUEST', what: string, value: string): void {
  if (value.trim() === '') {
    throw new AuthError(code, `gateway token ${what} must be a non-empty string`, { field: what });
  }
}
