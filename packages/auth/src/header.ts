/**
 * The `Authorization` header (RFC 9110 §11.6.2): `credentials = auth-scheme [ 1*SP ( token68 /
 * #auth-param ) ]`, the scheme case-insensitive.
 *
 * - Basic (RFC 7617 §2): `token68` is the base64 of `user-id ":" password`; the user-id cannot
 *   contain ":" and neither part may contain control characters. git sends this after asking its
 *   credential helper (gitcredentials(7)), so the token travels as the password and the username
 *   is whatever the helper stored — `x-access-token`, the user's login, anything; it is ignored.
 * - Bearer (RFC 6750 §2.1): `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
 *
 * Nothing parsed here is ever put into a `reason`: a header without a scheme is the token itself,
 * so even the "scheme" a client sent may be a secret.
 */

/** What an `Authorization` header holds. */
export type ParsedAuthorization =
  | { readonly kind: 'missing' }
  | { readonly kind: 'token'; readonly token: string; readonly scheme: 'basic' | 'bearer' }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Largest `Authorization` header parsed, in bytes. Node's HTTP server refuses a request whose
 * header block exceeds 16 KiB (`--max-http-header-size`), so in a default deployment this never
 * binds first; it bounds the work done on a header handed in by other means, and leaves room for
 * operators who raise Node's limit for identity providers that put many groups in a token.
 */
export const MAX_AUTHORIZATION_BYTES = 64 * 1024;

const BEARER_TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
// C0 controls and DEL (RFC 5234 CTL); RFC 7617 forbids them in both user-id and password.
const CTL_RE = /[\u0000-\u001f\u007f]/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(reason: string): ParsedAuthorization {
  return { kind: 'malformed', reason };
}

/** Parses an `Authorization` header into the token it carries, without judging the token. */
export function parseAuthorization(header: string | undefined): ParsedAuthorization {
  if (header === undefined) return { kind: 'missing' };
  if (Buffer.byteLength(header, 'utf8') > MAX_AUTHORIZATION_BYTES) {
    return malformed(`Authorization header is longer than ${MAX_AUTHORIZATION_BYTES} bytes`);
  }
  const trimmed = header.trim();
  if (trimmed === '') return { kind: 'missing' };

  const space = trimmed.search(/[ \t]/);
  if (space < 0) return malformed('Authorization header has no scheme; use "Basic" or "Bearer"');
  const scheme = trimmed.slice(0, space).toLowerCase();
  const credentials = trimmed.slice(space).trim();

  switch (scheme) {
    case 'basic':
      return parseBasic(credentials);
    case 'bearer':
      if (!BEARER_TOKEN_RE.test(credentials)) {
        return malformed('Bearer credentials are not a single token of base64url characters');
      }
      return { kind: 'token', token: credentials, scheme: 'bearer' };
    default:
      return malformed('unsupported Authorization scheme; use "Basic" (token as password) or "Bearer"');
  }
}

function parseBasic(credentials: string): ParsedAuthorization {
  // Unpadded base64 is tolerated (length ≡ 2 or 3 mod 4); a length ≡ 1 mod 4 cannot encode bytes.
  if (!BASE64_RE.test(credentials) || credentials.length % 4 === 1 || (credentials.includes('=') && credentials.length % 4 !== 0)) {
    return malformed('Basic credentials are not valid base64');
  }
  let userPass: string;
  try {
    userPass = strictUtf8.decode(Buffer.from(credentials, 'base64'));
  } catch {
    return malformed('Basic credentials are not valid UTF-8 after base64 decoding');
  }
  const colon = userPass.indexOf(':');
  if (colon < 0) return malformed('Basic credentials have no ":" between username and password');
  const password = userPass.slice(colon + 1);
  if (password === '') {
    return malformed('Basic credentials have an empty password; the token goes in the password (any username)');
  }
  if (CTL_RE.test(userPass)) return malformed('Basic credentials contain control characters');
  return { kind: 'token', token: password, scheme: 'basic' };
}
