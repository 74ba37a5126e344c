/**
 * A test identity provider: an OIDC-style issuer whose keys are generated with jose, whose JWKS is
 * served on 127.0.0.1:0 (and written to a file on request), and which mints tokens for the
 * gateway's external-issuer path — well-formed ones, and the classic forgeries a verifier must
 * refuse: `alg: none` (RFC 7519 §6 "unsecured JWT") and an HS256 token keyed with the issuer's
 * public key (the RS/HS algorithm-confusion attack; RFC 8725 §2.1, §3.1).
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, base64url, calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, type GenerateKeyPairResult, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';

/** Signing algorithms the provider can use. */
export type TestIdpAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/** Options of `startTestIdentityProvider`. */
export interface TestIdpOptions {
  /** The `iss` of minted tokens; the provider's own base URL by default. */
  readonly issuer?: string;
  /** RS256 by default. */
  readonly alg?: TestIdpAlgorithm;
}

/** Claims of a token to mint; any other claim is copied as given. */
export interface MintClaims {
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly email?: string;
  readonly groups?: readonly string[];
  /** The agent claim (the gateway's default agent claim name); any value, e.g. true or a session id. */
  readonly agent?: unknown;
  /** Issuer; the provider's own by default, null for a token without `iss`. */
  readonly iss?: string | null;
  /** Seconds from now to `exp` (negative for an expired token); 300 by default, null for no `exp`. */
  readonly expiresIn?: number | null;
  /** Seconds from now to `nbf` (positive for a token not yet valid); no `nbf` by default. */
  readonly notBefore?: number;
  readonly [claim: string]: unknown;
}

/** Protected-header parameters to set or override when minting; `kid: null` leaves the kid out. */
export interface MintHeader {
  readonly kid?: string | null;
  readonly typ?: string | null;
  readonly [param: string]: unknown;
}

/** What happens to the current key on `rotate()`: still published (a grace period) or withdrawn. */
export type RotationPrevious = 'keep' | 'drop';

/** A running test identity provider. */
export interface TestIdp {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The `iss` of minted tokens. */
  readonly issuer: string;
  /** URL of the JWKS (`/jwks.json`); discovery is at `/.well-known/openid-configuration`. */
  readonly jwksUri: string;
  readonly alg: TestIdpAlgorithm;
  /** The kid tokens are signed with now (an RFC 7638 thumbprint of the public key). */
  readonly kid: string;
  /** The current public key as SPKI PEM (the secret of the HS256 confusion token). */
  readonly publicKeyPem: string;
  /** How many times the JWKS has been fetched (to assert a verifier's caching). */
  readonly jwksRequests: number;
  /** The published key set: the current key first, then any kept by `rotate()`. */
  jwks(): JSONWebKeySet;
  /** Writes the published key set as JSON to `path` (for a verifier configured with a JWKS file). */
  writeJwksFile(path: string): Promise<void>;
  /** A token signed with the current key. */
  mint(claims: MintClaims, header?: MintHeader): Promise<string>;
  /** A token with `alg: none` and an empty signature. */
  mintUnsigned(claims: MintClaims): string;
  /** A token with `alg: HS256` whose HMAC key is the current public key's PEM text. */
  mintHs256WithPublicKey(claims: MintClaims): Promise<string>;
  /** Switches to a new key (new kid) and returns its kid; the old key stays published unless `previous: 'drop'`. */
  rotate(options?: { readonly previous?: RotationPrevious }): Promise<string>;
  /** Stops serving the JWKS. */
  close(): Promise<void>;
}

interface SigningKey {
  readonly kid: string;
  readonly pair: GenerateKeyPairResult;
  readonly jwk: JWK;
  readonly pem: string;
}

/** Lifetime of a minted token when the claims do not say. */
const DEFAULT_EXPIRES_IN_SECONDS = 300;

async function newKey(alg: TestIdpAlgorithm): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, pair, jwk: { ...publicJwk, kid, alg, use: 'sig' }, pem: await exportSPKI(pair.publicKey) };
}

/** Starts a test identity provider with a fresh key. */
export async function startTestIdentityProvider(options: TestIdpOptions = {}): Promise<TestIdp> {
  const alg = options.alg ?? 'RS256';
  let keys: SigningKey[] = [await newKey(alg)];
  const current = (): SigningKey => keys[0] as SigningKey;
  let jwksRequests = 0;

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/jwks.json') {
      jwksRequests++;
      json(jwks());
    } else if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      json({ issuer, jwks_uri: jwksUri, id_token_signing_alg_values_supported: [alg], response_types_supported: ['id_token'], subject_types_supported: ['public'] });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.issuer ?? url;
  const jwksUri = `${url}/jwks.json`;

  const jwks = (): JSONWebKeySet => ({ keys: keys.map((k) => ({ ...k.jwk })) });

  /** The payload for `claims`: defaults for iss, iat and exp, explicit claims winning. */
  const payloadOf = (claims: MintClaims): JWTPayload => {
    const now = Math.floor(Date.now() / 1000);
    const { iss, expiresIn, notBefore, ...rest } = claims;
    const payload: Record<string, unknown> = { iat: now };
    if (iss !== null) payload.iss = iss ?? issuer;
    if (expiresIn !== null) payload.exp = now + (expiresIn ?? DEFAULT_EXPIRES_IN_SECONDS);
    if (notBefore !== undefined) payload.nbf = now + notBefore;
    return { ...payload, ...rest } as JWTPayload;
  };

  /** Header parameters: `null` removes one, anything else sets it. */
  const headerOf = (base: Record<string, unknown>, overrides: MintHeader): Record<string, unknown> => {
    const header: Record<string, unknown> = { ...base };
    for (const [name, value] of Object.entries(overrides)) {
      if (value === null) delete header[name];
      else if (value !== undefined) header[name] = value;
    }
    return header;
  };

  return {
    url,
    issuer,
    jwksUri,
    alg,
    get kid() {
      return current().kid;
    },
    get publicKeyPem() {
      return current().pem;
    },
    get jwksRequests() {
      return jwksRequests;
    },
    jwks,

    async writeJwksFile(path) {
      await writeFile(path, `${JSON.stringify(jwks(), null, 2)}\n`);
    },

    async mint(claims, header = {}) {
      const key = current();
      const protectedHeader = headerOf({ typ: 'JWT', kid: key.kid }, header);
      return new SignJWT(payloadOf(claims)).setProtectedHeader({ ...protectedHeader, alg }).sign(key.pair.privateKey);
    },

    mintUnsigned(claims) {
      const encode = (v: unknown): string => base64url.encode(JSON.stringify(v));
      return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payloadOf(claims))}.`;
    },

    async mintHs256WithPublicKey(claims) {
      const key = current();
      return new SignJWT(payloadOf(claims)).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(Buffer.from(key.pem, 'utf8'));
    },

    async rotate(rotation = {}) {
      const next = await newKey(alg);
      keys = (rotation.previous ?? 'keep') === 'keep' ? [next, ...keys] : [next];
      return next.kid;
    },

    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
