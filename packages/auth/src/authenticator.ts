/**
 * Who is calling. Every request carries a JWT (RFC 7519), as a Bearer token or as the password
 * of HTTP Basic; it is accepted only when it is a JWS (RFC 7515 compact form) that
 *
 * 1. names a configured issuer in `iss` — matched as an exact string, no normalisation — and
 * 2. is signed by one of that issuer's keys (and no other issuer's), with an algorithm on that
 *    issuer's allow-list (asymmetric only: `none` and HMAC can never be configured, so a token
 *    "signed" with an issuer's public key as an HMAC secret is refused), and
 * 3. carries that issuer's audience in `aud`, an `exp` in the future and any `nbf` in the past
 *    (both within a small clock tolerance), and a `sub`.
 *
 * Issuers' keys come from a JWKS URL (fetched by jose, cached, refetched when a token names an
 * unknown `kid` but at most once per cooldown, with a timeout), a local JWKS file, or — for the
 * gateway's own tokens — the gateway's signing key. The pusher is this identity, never a commit's
 * author field.
 */
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import type { Identity } from '@pushgate/core';
import { identityFromClaims, type ClaimNames } from './claims';
import { AuthError } from './errors';
import { parseAuthorization } from './header';
import { GATEWAY_TOKEN_CLAIMS } from './issue';
import type { GatewaySigningKeys } from './signing-keys';

/**
 * Algorithms an issuer may be configured to accept: asymmetric signatures only (RFC 7518 §3.3–3.5,
 * RFC 8037, and RFC 9864's fully-specified `Ed25519`). HMAC (HS*) is absent on purpose: with an
 * issuer whose keys are public, an HMAC "signature" proves nothing.
 */
export const CONFIGURABLE_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
]);

/** The algorithms an issuer accepts when its config names none. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
]);

/** Default tolerance for `exp` and `nbf` against this machine's clock, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/**
 * Largest configurable clock tolerance: 5 minutes, the skew Kerberos has long accepted by default.
 * More than that extends every token's life by the same amount and hides a broken clock.
 */
export const MAX_CLOCK_TOLERANCE_SEC = 300;

/** Defaults for fetching a JWKS URL, taken from jose's own (createRemoteJWKSet). */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** At most one refetch per this many milliseconds however many unknown `kid`s arrive. */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** A fetched JWKS is used for this long before it is fetched again. */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 600_000;

/** One external OIDC/JWT issuer. Exactly one of `jwksUri` and `jwksFile` is set. */
export interface IssuerConfig {
  /** The exact `iss` value of its tokens. */
  readonly issuer: string;
  /** The audience its tokens must name in `aud` (any one of these when several). */
  readonly audience: string | readonly string[];
  /** Its JWKS URL; https, or http on a loopback address. */
  readonly jwksUri?: string;
  /** A local JWKS file, read once at startup (rotating its keys needs a restart). */
  readonly jwksFile?: string;
  /** Allowed `alg` values, a subset of CONFIGURABLE_ALGORITHMS; default DEFAULT_ALGORITHMS. */
  readonly algorithms?: readonly string[];
  /** Claim holding group names; default `groups`. */
  readonly groupsClaim?: string;
  /** Claim holding the email address; default `email`. */
  readonly emailClaim?: string;
  /** Timeout of one JWKS fetch; default DEFAULT_JWKS_TIMEOUT_MS. */
  readonly jwksTimeoutMs?: number;
  /** Minimum time between refetches for unknown `kid`s; default DEFAULT_JWKS_COOLDOWN_MS. */
  readonly jwksCooldownMs?: number;
  /** How long a fetched JWKS is trusted before it is refetched; default DEFAULT_JWKS_CACHE_MAX_AGE_MS. */
  readonly jwksCacheMaxAgeMs?: number;
}

/** The gateway as an issuer of its own tokens (`pushgate token issue`). */
export interface GatewayIssuerConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly keys: GatewaySigningKeys;
}

/** Everything authentication needs. */
export interface AuthConfig {
  readonly issuers: readonly IssuerConfig[];
  readonly gateway: GatewayIssuerConfig;
  /** The claim whose truthy value (see readAgentClaim) marks the caller as an AI agent. */
  readonly agentClaim: string;
  /** Tolerance for `exp`/`nbf`; default DEFAULT_CLOCK_TOLERANCE_SEC, at most MAX_CLOCK_TOLERANCE_SEC. */
  readonly clockToleranceSec?: number;
}

/** Turns an `Authorization` header into an Identity, or throws AuthError saying which check failed. */
export interface Authenticator {
  /** Parses the header and verifies its token. */
  authenticate(authorizationHeader: string | undefined): Promise<Identity>;
  /** Verifies a bare token (already taken out of its header). */
  verifyToken(token: string): Promise<Identity>;
  /** Resolves once every local JWKS file is loaded; rejects with AUTH_CONFIG_INVALID if one is not. */
  ready(): Promise<void>;
}

/** Where an issuer's keys come from, for messages. */
type KeySource = { readonly kind: 'gateway' } | { readonly kind: 'jwks-uri'; readonly url: string } | { readonly kind: 'jwks-file'; readonly file: string };

interface Verifier {
  readonly issuer: string;
  readonly audience: string | string[];
  readonly algorithms: string[];
  readonly getKey: JWTVerifyGetKey;
  readonly names: ClaimNames;
  readonly source: KeySource;
  readonly loaded: Promise<void>;
}

/** An issuer's keys could not be obtained; never the caller's fault. */
class KeysUnavailable extends Error {
  constructor(cause: unknown) {
    super('issuer keys unavailable', { cause });
  }
}

// A compact JWS: three base64url parts. The signature may be empty so that `alg: none` reaches
// the algorithm check and is reported as such rather than as a shapeless token.
const COMPACT_JWS_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Builds an Authenticator; throws AUTH_CONFIG_INVALID when the config cannot be used safely. */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const tolerance = config.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SEC) {
    throw configError(`clockToleranceSec ${tolerance} is not between 0 and ${MAX_CLOCK_TOLERANCE_SEC}`, { clockToleranceSec: tolerance });
  }
  requireName('agentClaim', config.agentClaim);
  if (GATEWAY_TOKEN_CLAIMS.includes(config.agentClaim)) {
    throw configError(`agentClaim "${config.agentClaim}" collides with a registered claim gateway tokens set`, {
      agentClaim: config.agentClaim,
    });
  }

  const verifiers = new Map<string, Verifier>();
  verifiers.set(config.gateway.issuer, gatewayVerifier(config));
  for (const issuer of config.issuers) {
    if (verifiers.has(issuer.issuer)) {
      throw configError(`issuer "${issuer.issuer}" is configured twice (the gateway's own issuer counts)`, {
        issuer: issuer.issuer,
      });
    }
    verifiers.set(issuer.issuer, externalVerifier(issuer, config.agentClaim));
  }

  async function verifyToken(token: string): Promise<Identity> {
    const unverified = peek(token);
    const verifier = verifiers.get(unverified.iss);
    if (verifier === undefined) {
      throw new AuthError('AUTH_WRONG_ISSUER', `token issuer ${quote(unverified.iss)} is not a configured issuer`, {
        actual: clip(unverified.iss),
      });
    }
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(token, verifier.getKey, {
        issuer: verifier.issuer,
        audience: verifier.audience,
        algorithms: verifier.algorithms,
        clockTolerance: tolerance,
        requiredClaims: ['exp'],
      });
      claims = verified.payload;
    } catch (e) {
      throw verifyError(e, verifier, unverified, tolerance);
    }
    return identityFromClaims(claims, verifier.issuer, verifier.names);
  }

  return {
    async authenticate(authorizationHeader) {
      const parsed = parseAuthorization(authorizationHeader);
      switch (parsed.kind) {
        case 'missing':
          throw new AuthError('AUTH_MISSING', 'no credentials: send a token as the password of HTTP Basic, or as a Bearer token');
        case 'malformed':
          throw new AuthError('AUTH_MALFORMED', parsed.reason);
        case 'token':
          return verifyToken(parsed.token);
      }
    },
    verifyToken,
    async ready() {
      for (const v of verifiers.values()) {
        try {
          await v.loaded;
        } catch (e) {
          const where = v.source.kind === 'jwks-file' ? ` from ${v.source.file}` : '';
          throw configError(`keys of issuer "${v.issuer}" cannot be loaded${where}`, { issuer: v.issuer }, e);
        }
      }
    },
  };
}

function gatewayVerifier(config: AuthConfig): Verifier {
  const { issuer, audience, keys } = config.gateway;
  requireName('gateway.issuer', issuer);
  requireName('gateway.audience', audience);
  const set = createLocalJWKSet({ keys: [{ ...keys.publicJwk }] });
  return {
    issuer,
    audience,
    algorithms: [keys.alg],
    getKey: set,
    names: { emailClaim: 'email', groupsClaim: 'groups', agentClaim: config.agentClaim },
    source: { kind: 'gateway' },
    loaded: Promise.resolve(),
  };
}

function externalVerifier(c: IssuerConfig, agentClaim: string): Verifier {
  requireName('issuer', c.issuer);
  const audience = typeof c.audience === 'string' ? c.audience : [...c.audience];
  if ((typeof audience === 'string' ? [audience] : audience).some((a) => typeof a !== 'string' || a === '') || audience.length === 0) {
    throw configError(`issuer "${c.issuer}" needs a non-empty audience`, { issuer: c.issuer });
  }
  const algorithms = [...(c.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0) throw configError(`issuer "${c.issuer}" allows no algorithms`, { issuer: c.issuer });
  for (const alg of algorithms) {
    if (!CONFIGURABLE_ALGORITHMS.includes(alg)) {
      throw configError(
        `issuer "${c.issuer}" allows algorithm "${alg}"; only asymmetric signatures can be allowed (${CONFIGURABLE_ALGORITHMS.join(', ')})`,
        { issuer: c.issuer, algorithm: alg },
      );
    }
  }
  const names: ClaimNames = {
    emailClaim: c.emailClaim ?? 'email',
    groupsClaim: c.groupsClaim ?? 'groups',
    agentClaim,
  };
  requireName(`issuer "${c.issuer}" emailClaim`, names.emailClaim);
  requireName(`issuer "${c.issuer}" groupsClaim`, names.groupsClaim);

  if ((c.jwksUri === undefined) === (c.jwksFile === undefined)) {
    throw configError(`issuer "${c.issuer}" needs exactly one of jwksUri and jwksFile`, { issuer: c.issuer });
  }
  const base = { issuer: c.issuer, audience, algorithms, names };
  if (c.jwksUri !== undefined) {
    const url = jwksUrl(c.issuer, c.jwksUri);
    const remote = createRemoteJWKSet(url, {
      timeoutDuration: duration(c.issuer, 'jwksTimeoutMs', c.jwksTimeoutMs, DEFAULT_JWKS_TIMEOUT_MS),
      cooldownDuration: duration(c.issuer, 'jwksCooldownMs', c.jwksCooldownMs, DEFAULT_JWKS_COOLDOWN_MS),
      cacheMaxAge: duration(c.issuer, 'jwksCacheMaxAgeMs', c.jwksCacheMaxAgeMs, DEFAULT_JWKS_CACHE_MAX_AGE_MS),
    });
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (e) {
        // Only "no key / several keys for this token" is about the token; anything else (refused
        // connection, timeout, non-200, a body that is not a JWKS) is the issuer's side.
        if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) throw e;
        throw new KeysUnavailable(e);
      }
    };
    return { ...base, getKey, source: { kind: 'jwks-uri', url: url.href }, loaded: Promise.resolve() };
  }

  const file = c.jwksFile as string;
  const loading = readFile(file, 'utf8').then((text) => createLocalJWKSet(JSON.parse(text)));
  // Handled by ready() and by each verification; this only keeps an early failure from being
  // reported as an unhandled rejection before anyone awaits it.
  loading.catch(() => undefined);
  const getKey: JWTVerifyGetKey = async (header, token) => {
    let set: Awaited<typeof loading>;
    try {
      set = await loading;
    } catch (e) {
      throw new KeysUnavailable(e);
    }
    return set(header, token);
  };
  return { ...base, getKey, source: { kind: 'jwks-file', file }, loaded: loading.then(() => undefined) };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function jwksUrl(issuer: string, uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (e) {
    throw configError(`issuer "${issuer}" jwksUri is not a URL`, { issuer }, e);
  }
  // Keys fetched over plain http could be swapped in transit, and then anyone could mint tokens.
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return url;
  throw configError(`issuer "${issuer}" jwksUri must use https (http only on a loopback address)`, {
    issuer,
    jwksUri: url.href,
  });
}

function duration(issuer: string, name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw configError(`issuer "${issuer}" ${name} must be a whole number ≥ 0`, { issuer, [name]: v });
  return v;
}

/** The unverified parts needed to choose an issuer and to explain a failure. */
interface Unverified {
  readonly iss: string;
  readonly alg: string;
  readonly kid: string | undefined;
}

function peek(token: string): Unverified {
  if (!COMPACT_JWS_RE.test(token)) {
    throw new AuthError('AUTH_INVALID_TOKEN', 'token is not a JWT (expected three base64url parts separated by dots)');
  }
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
    payload = decodeJwt(token);
  } catch {
    throw new AuthError('AUTH_INVALID_TOKEN', 'token is not a JWT (its header or payload is not a base64url JSON object)');
  }
  const { iss } = payload;
  if (iss === undefined) throw new AuthError('AUTH_MISSING_CLAIM', 'token has no "iss" (issuer) claim', { claim: 'iss' });
  if (typeof iss !== 'string') throw new AuthError('AUTH_WRONG_ISSUER', 'token "iss" claim is not a string');
  const alg = typeof header['alg'] === 'string' ? header['alg'] : '';
  const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;
  return { iss, alg, kid };
}

function verifyError(e: unknown, v: Verifier, t: Unverified, toleranceSec: number): AuthError {
  if (e instanceof AuthError) return e;
  const issuer = v.issuer;
  if (e instanceof KeysUnavailable) {
    const where = v.source.kind === 'jwks-uri' ? 'its JWKS endpoint did not answer with a key set' : 'its JWKS file cannot be read';
    return new AuthError('AUTH_ISSUER_UNAVAILABLE', `keys of issuer "${issuer}" are unavailable: ${where}; try again later`, { issuer }, e.cause);
  }
  if (e instanceof errors.JOSEAlgNotAllowed) {
    return new AuthError(
      'AUTH_ALG_NOT_ALLOWED',
      `token algorithm ${quote(t.alg)} is not allowed for issuer "${issuer}" (allowed: ${v.algorithms.join(', ')})`,
      { issuer, actual: clip(t.alg), expected: v.algorithms },
    );
  }
  if (e instanceof errors.JWKSNoMatchingKey) {
    const which = t.kid === undefined ? 'token has no "kid" and no key' : `no key with kid ${quote(t.kid)}`;
    return new AuthError('AUTH_UNKNOWN_KEY', `${which} of issuer "${issuer}" fits algorithm ${quote(t.alg)}`, {
      issuer,
      kid: t.kid === undefined ? null : clip(t.kid),
      alg: clip(t.alg),
    });
  }
  if (e instanceof errors.JWKSMultipleMatchingKeys) {
    return new AuthError('AUTH_UNKNOWN_KEY', `token has no "kid" and several keys of issuer "${issuer}" fit; it must name its key`, {
      issuer,
      kid: null,
    });
  }
  if (e instanceof errors.JWTExpired) {
    const exp = e.payload['exp'];
    return new AuthError('AUTH_EXPIRED', `token expired at ${isoTime(exp)} (clock tolerance ${toleranceSec}s)`, {
      issuer,
      exp,
      now: Math.floor(Date.now() / 1000),
      clockToleranceSec: toleranceSec,
    });
  }
  if (e instanceof errors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (e.reason === 'missing') {
      return new AuthError('AUTH_MISSING_CLAIM', `token has no "${claim}" claim`, { issuer, claim });
    }
    if (e.reason === 'invalid') {
      return new AuthError('AUTH_INVALID_CLAIM', `token claim "${claim}" is not a number`, { issuer, claim });
    }
    switch (claim) {
      case 'nbf': {
        const nbf = e.payload['nbf'];
        return new AuthError('AUTH_NOT_YET_VALID', `token is not valid before ${isoTime(nbf)} (clock tolerance ${toleranceSec}s)`, {
          issuer,
          nbf,
          now: Math.floor(Date.now() / 1000),
          clockToleranceSec: toleranceSec,
        });
      }
      case 'aud':
        return new AuthError('AUTH_WRONG_AUDIENCE', `token audience is not ${describeAudience(v.audience)}`, {
          issuer,
          expected: v.audience,
          actual: audienceForData(e.payload['aud']),
        });
      case 'iss':
        return new AuthError('AUTH_WRONG_ISSUER', `token issuer is not "${issuer}"`, { expected: issuer });
      default:
        return new AuthError('AUTH_INVALID_CLAIM', `token claim "${claim}" failed its check`, { issuer, claim });
    }
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return new AuthError('AUTH_INVALID_TOKEN', `token signature does not verify with the key of issuer "${issuer}"`, { issuer });
  }
  if (e instanceof errors.JOSEError) {
    // jose's messages describe the structure ("JWS Protected Header is invalid"), never the token.
    return new AuthError('AUTH_INVALID_TOKEN', `token is not a valid JWS: ${e.message}`, { issuer, reason: e.code });
  }
  // Anything else (a key the runtime refuses, such as an RSA modulus under 2048 bits) still
  // refuses the token; the cause goes to the log, never to the client.
  return new AuthError('AUTH_INVALID_TOKEN', `token could not be verified against the keys of issuer "${issuer}"`, { issuer }, e);
}

function describeAudience(audience: string | readonly string[]): string {
  return typeof audience === 'string' ? `"${audience}"` : `one of ${audience.map((a) => `"${a}"`).join(', ')}`;
}

function audienceForData(aud: unknown): unknown {
  if (typeof aud === 'string') return clip(aud);
  if (Array.isArray(aud)) return aud.slice(0, 10).map((a) => (typeof a === 'string' ? clip(a) : typeof a));
  return typeof aud;
}

function isoTime(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) < 8.64e12
    ? new Date(seconds * 1000).toISOString()
    : String(seconds);
}

/** Values from an unverified token are attacker-chosen: bounded and quoted before display. */
function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function quote(s: string): string {
  return JSON.stringify(clip(s));
}

function requireName(what: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw configError(`${what} must be a non-empty string`, { field: what });
}

function configError(message: string, data: Record<string, unknown>, cause?: unknown): AuthError {
  return new AuthError('AUTH_CONFIG_INVALID', message, data, cause);
}
