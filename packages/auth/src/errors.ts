/**
 * Errors of authentication. Each code names the one check that failed, so a git client (and the
 * operator reading the log) can tell an expired token from a wrong audience without the token
 * ever being repeated back: no message or `data` here carries the token or any part of it.
 */
import { PushgateError } from '@pushgate/core';

/** Codes of AuthError that reject the caller's credentials (HTTP 401). */
export type AuthRejectionCode =
  | 'AUTH_MISSING'
  | 'AUTH_MALFORMED'
  | 'AUTH_INVALID_TOKEN'
  | 'AUTH_EXPIRED'
  | 'AUTH_NOT_YET_VALID'
  | 'AUTH_WRONG_ISSUER'
  | 'AUTH_WRONG_AUDIENCE'
  | 'AUTH_ALG_NOT_ALLOWED'
  | 'AUTH_UNKNOWN_KEY'
  | 'AUTH_MISSING_CLAIM'
  | 'AUTH_INVALID_CLAIM';

/** Codes of AuthError that are not the caller's fault or are not about a request at all. */
export type AuthOperationalCode =
  /** An issuer's keys could not be fetched or read (HTTP 503: try again later). */
  | 'AUTH_ISSUER_UNAVAILABLE'
  /** The authentication config is unusable (raised at startup, never per request). */
  | 'AUTH_CONFIG_INVALID'
  /** The gateway's signing key file is missing, unreadable or not an Ed25519 private JWK. */
  | 'AUTH_SIGNING_KEY_INVALID'
  /** A token lifetime such as `--ttl` is not `<n>s|m|h|d`. */
  | 'AUTH_BAD_DURATION'
  /** A token lifetime is longer than the configured maximum. */
  | 'AUTH_TTL_TOO_LONG'
  /** A token was requested with an empty subject, email or group. */
  | 'AUTH_BAD_ISSUE_REQUEST';

/** Every code of AuthError (listed in docs/ERRORS.md). */
export type AuthErrorCode = AuthRejectionCode | AuthOperationalCode;

/** HTTP status each code is delivered with before any git protocol output. */
const STATUS: Readonly<Record<AuthErrorCode, number>> = {
  AUTH_MISSING: 401,
  AUTH_MALFORMED: 401,
  AUTH_INVALID_TOKEN: 401,
  AUTH_EXPIRED: 401,
  AUTH_NOT_YET_VALID: 401,
  AUTH_WRONG_ISSUER: 401,
  AUTH_WRONG_AUDIENCE: 401,
  AUTH_ALG_NOT_ALLOWED: 401,
  AUTH_UNKNOWN_KEY: 401,
  AUTH_MISSING_CLAIM: 401,
  AUTH_INVALID_CLAIM: 401,
  // The issuer's JWKS endpoint being down is not the caller's fault; 503 tells git not to ask
  // the credential helper for a different password.
  AUTH_ISSUER_UNAVAILABLE: 503,
  AUTH_CONFIG_INVALID: 500,
  AUTH_SIGNING_KEY_INVALID: 500,
  AUTH_BAD_DURATION: 400,
  AUTH_TTL_TOO_LONG: 400,
  AUTH_BAD_ISSUE_REQUEST: 400,
};

/**
 * The challenge the gateway sends with every 401 so that git asks its credential helper for a
 * username and password (the token) instead of giving up.
 */
export const AUTH_CHALLENGE = 'Basic realm="pushgate"';

/** Authentication failed or could not be performed; `delivery` is the HTTP status to answer with. */
export class AuthError extends PushgateError<AuthErrorCode, Record<string, unknown>> {
  constructor(code: AuthErrorCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause, delivery: { kind: 'http', status: STATUS[code] } });
  }
}

/** True when `e` is an AuthError (optionally with the given code). */
export function isAuthError(e: unknown, code?: AuthErrorCode): e is AuthError {
  return e instanceof AuthError && (code === undefined || e.code === code);
}
