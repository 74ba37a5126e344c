import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { Identity } from '@pushgate/core';
import { createAuthenticator, type AuthConfig, type Authenticator, type IssuerConfig } from './authenticator';
import { AuthError } from './errors';
import { issueToken } from './issue';
import { loadOrCreateSigningKeys, type GatewaySigningKeys } from './signing-keys';

// An identity provider of our own for these tests: real keys, a real JWKS endpoint on loopback.

const IDP = 'https://idp.example.com/';
const IDP_ES_ONLY = 'https://es-only.example.com';
const FILE_IDP = 'https://file-idp.example.com';
const DOWN_IDP = 'https://down.example.com';
const SLOW_IDP = 'https://slow.example.com';
const ERROR_IDP = 'https://error.example.com';
const GATEWAY = 'https://pushgate.example.com';
const AUD = 'pushgate';
const AGENT = 'https://pushgate.dev/agent';

interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function signingKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let tmp: string;
let gatewayKeys: GatewaySigningKeys;
let rsa1: SigningKey;
let rsa2: SigningKey;
let ec1: SigningKey;
let stranger: SigningKey;
let server: Server;
let base: string;
let downUrl: string;
/** Keys the JWKS endpoint currently publishes; tests rotate by changing it. */
let published: JWK[] = [];
let jwksHits = 0;
const openSockets = new Set<Socket>();

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pushgate-auth-'));
  gatewayKeys = await loadOrCreateSigningKeys({ dataDir: tmp });
  [rsa1, rsa2, ec1, stranger] = await Promise.all([
    signingKey('RS256', 'rsa-1'),
    signingKey('RS256', 'rsa-2'),
    signingKey('ES256', 'ec-1'),
    signingKey('RS256', 'rsa-1'),
  ]);
  published = [rsa1.publicJwk];
  await writeFile(join(tmp, 'jwks.json'), JSON.stringify({ keys: [ec1.publicJwk] }));

  server = createServer((req, res) => {
    switch (req.url) {
      case '/jwks':
        jwksHits++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
        return;
      case '/error':
        res.writeHead(500).end('down for maintenance');
        return;
      case '/slow':
        return; // never answers
      default:
        res.writeHead(404).end();
    }
  });
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // A port that was just listening and is now closed: connections are refused.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  downUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks`;
  await new Promise<void>((r) => closed.close(() => r()));
});

afterAll(async () => {
  for (const s of openSockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(tmp, { recursive: true, force: true });
});

function config(overrides: Partial<AuthConfig> = {}, idp: Partial<IssuerConfig> = {}): AuthConfig {
  return {
    issuers: [
      { issuer: IDP, audience: [AUD, 'other-app'], jwksUri: `${base}/jwks`, jwksCooldownMs: 0, ...idp },
      { issuer: IDP_ES_ONLY, audience: AUD, jwksUri: `${base}/jwks`, algorithms: ['ES256'] },
      { issuer: FILE_IDP, audience: AUD, jwksFile: join(tmp, 'jwks.json'), groupsClaim: 'roles', emailClaim: 'upn' },
      { issuer: DOWN_IDP, audience: AUD, jwksUri: downUrl },
      { issuer: SLOW_IDP, audience: AUD, jwksUri: `${base}/slow`, jwksTimeoutMs: 300 },
      { issuer: ERROR_IDP, audience: AUD, jwksUri: `${base}/error` },
    ],
    gateway: { issuer: GATEWAY, audience: AUD, keys: gatewayKeys },
    agentClaim: AGENT,
    ...overrides,
  };
}

const now = () => Math.floor(Date.now() / 1000);

async function sign(key: SigningKey, claims: JWTPayload, header: { alg?: string; kid?: string | null } = {}): Promise<string> {
  const kid = header.kid === null ? undefined : (header.kid ?? key.kid);
  return new SignJWT({ iss: IDP, aud: AUD, sub: 'alice', iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ alg: header.alg ?? key.alg, ...(kid === undefined ? {} : { kid }) })
    .sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Expects `authenticate` to fail with `code`, and the failure to repeat no part of the token. */
async function expectRefusal(auth: Authenticator, token: string, code: string, scheme: 'bearer' | 'basic' = 'bearer'): Promise<AuthError> {
  const header = scheme === 'bearer' ? `Bearer ${token}` : `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  const err = await auth.authenticate(header).then(
    (identity) => new Error(`accepted as ${JSON.stringify(identity)}`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  const authError = err as AuthError;
  expect({ code: authError.code, message: authError.message }).toEqual({ code, message: expect.any(String) });
  const shown = `${authError.clientMessage()} ${JSON.stringify(authError.toJSON())}`;
  for (const part of token.split('.').filter((p) => p.length >= 8)) expect(shown).not.toContain(part);
  return authError;
}

describe('authenticate', () => {
  it('accepts a gateway-issued token as Bearer and as the Basic password', async () => {
    const auth = createAuthenticator(config());
    const token = await issueToken(gatewayKeys, {
      issuer: GATEWAY,
      audience: AUD,
      sub: 'ci-bot',
      email: 'ci@example.com',
      groups: ['ci', 'release'],
      agent: true,
      agentClaim: AGENT,
      ttl: '1h',
    });
    const expected: Identity = { sub: 'ci-bot', issuer: GATEWAY, email: 'ci@example.com', groups: ['ci', 'release'], agent: true };
    expect(await auth.authenticate(`Bearer ${token}`)).toEqual(expected);
    expect(await auth.authenticate(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`)).toEqual(expected);
    expect(await auth.authenticate(`Basic ${Buffer.from(`alice:${token}`).toString('base64')}`)).toEqual(expected);

    const human = await issueToken(gatewayKeys, { issuer: GATEWAY, audience: AUD, sub: 'bob', agentClaim: AGENT, ttl: '5m' });
    expect(await auth.authenticate(`Bearer ${human}`)).toEqual({ sub: 'bob', issuer: GATEWAY, groups: [], agent: false });
  });

  it('refuses a gateway token signed by another gateway key or for another audience', async () => {
    const auth = createAuthenticator(config());
    const otherKeys = await loadOrCreateSigningKeys({ dataDir: join(tmp, 'other-gateway') });
    const foreign = await issueToken(otherKeys, { issuer: GATEWAY, audience: AUD, sub: 'x', agentClaim: AGENT, ttl: '1m' });
    await expectRefusal(auth, foreign, 'AUTH_UNKNOWN_KEY');
    // Same kid as ours but another key's signature: the signature check is what refuses it.
    const forged = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: gatewayKeys.kid })
      .setIssuer(GATEWAY).setAudience(AUD).setExpirationTime('1m')
      .sign(otherKeys.privateKey);
    await expectRefusal(auth, forged, 'AUTH_INVALID_TOKEN');
    const elsewhere = await issueToken(gatewayKeys, { issuer: GATEWAY, audience: 'another-gateway', sub: 'x', agentClaim: AGENT, ttl: '1m' });
    await expectRefusal(auth, elsewhere, 'AUTH_WRONG_AUDIENCE');
  });

  it('accepts an external token verified through a JWKS URL, mapping email, groups and agent', async () => {
    const auth = createAuthenticator(config());
    const token = await sign(rsa1, { aud: ['unrelated', 'other-app'], email: 'alice@example.com', groups: 'dev, ops  sec', [AGENT]: 'true' });
    expect(await auth.authenticate(`Bearer ${token}`)).toEqual({
      sub: 'alice',
      issuer: IDP,
      email: 'alice@example.com',
      groups: ['dev', 'ops', 'sec'],
      agent: true,
    });
    const unverifiedEmail = await sign(rsa1, { email: 'ceo@example.com', email_verified: false, [AGENT]: 1 });
    expect(await auth.authenticate(`Bearer ${unverifiedEmail}`)).toEqual({ sub: 'alice', issuer: IDP, groups: [], agent: true });
    await expectRefusal(auth, await sign(rsa1, { [AGENT]: 'yes' }), 'AUTH_INVALID_CLAIM');
    await expectRefusal(auth, await sign(rsa1, { groups: 7 }), 'AUTH_INVALID_CLAIM');
  });

  it('accepts an external token verified through a JWKS file, with its own claim names', async () => {
    const auth = createAuthenticator(config());
    await auth.ready();
    const token = await sign(ec1, { iss: FILE_IDP, upn: 'carol@example.com', roles: ['admins'], email: 'ignored@example.com', [AGENT]: false });
    expect(await auth.authenticate(`Bearer ${token}`)).toEqual({
      sub: 'alice',
      issuer: FILE_IDP,
      email: 'carol@example.com',
      groups: ['admins'],
      agent: false,
    });
  });

  it('refetches the JWKS for a new kid (rotation) and refuses a kid the issuer does not publish', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    const hits0 = jwksHits;
    expect((await auth.authenticate(`Bearer ${await sign(rsa1, {})}`)).sub).toBe('alice');
    expect(jwksHits).toBe(hits0 + 1);
    expect((await auth.authenticate(`Bearer ${await sign(rsa1, { sub: 'again' })}`)).sub).toBe('again');
    expect(jwksHits).toBe(hits0 + 1); // cached

    published = [rsa1.publicJwk, rsa2.publicJwk];
    expect((await auth.authenticate(`Bearer ${await sign(rsa2, { sub: 'rotated' })}`)).sub).toBe('rotated');
    expect(jwksHits).toBe(hits0 + 2);

    const err = await expectRefusal(auth, await sign(rsa2, {}, { kid: 'rsa-9' }), 'AUTH_UNKNOWN_KEY');
    expect(err.message).toContain('"rsa-9"');
    expect(jwksHits).toBe(hits0 + 3);
  });

  it('refetches at most once per cooldown however many unknown kids arrive', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config({}, { jwksCooldownMs: 60_000 }));
    const hits0 = jwksHits;
    await auth.authenticate(`Bearer ${await sign(rsa1, {})}`);
    for (let i = 0; i < 5; i++) await expectRefusal(auth, await sign(rsa2, {}, { kid: `unknown-${i}` }), 'AUTH_UNKNOWN_KEY');
    expect(jwksHits).toBe(hits0 + 1);
  });

  it('verifies a token only against the keys of the issuer it names', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    // An external key cannot vouch for the gateway, nor the gateway's key for an external issuer.
    await expectRefusal(auth, await sign(rsa1, { iss: GATEWAY }), 'AUTH_ALG_NOT_ALLOWED');
    const asIdp = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: gatewayKeys.kid })
      .setIssuer(IDP).setAudience(AUD).setExpirationTime('1m')
      .sign(gatewayKeys.privateKey);
    await expectRefusal(auth, asIdp, 'AUTH_UNKNOWN_KEY');
    // The file issuer's EC key does not sign for the URL issuer.
    await expectRefusal(auth, await sign(ec1, { iss: IDP }), 'AUTH_UNKNOWN_KEY');
  });

  it('refuses a bad signature, a tampered payload and things that are not JWTs', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    await expectRefusal(auth, await sign(stranger, {}), 'AUTH_INVALID_TOKEN'); // same kid, other key
    const [h, , s] = (await sign(rsa1, {})).split('.');
    const tampered = `${h}.${b64url({ iss: IDP, aud: AUD, sub: 'root', exp: now() + 300 })}.${s}`;
    await expectRefusal(auth, tampered, 'AUTH_INVALID_TOKEN');
    await expectRefusal(auth, 'not-a-jwt', 'AUTH_INVALID_TOKEN');
    await expectRefusal(auth, 'abcdefgh.ijklmnop.qrstuvwx', 'AUTH_INVALID_TOKEN');
    await expectRefusal(auth, `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.aaaaaaaa.bbbbbbbb.cccccccc.dddddddd`, 'AUTH_INVALID_TOKEN');
    await expectRefusal(auth, `${b64url({ alg: 'RS256' })}.${b64url(['not', 'an', 'object'])}.c2lnbmF0dXJl`, 'AUTH_INVALID_TOKEN');
  });

  it('refuses expired and not-yet-valid tokens, within a tolerance of 30 s by default', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    const expired = await expectRefusal(auth, await sign(rsa1, { exp: now() - 60 }), 'AUTH_EXPIRED');
    expect(expired.message).toMatch(/^token expired at \d{4}-\d\d-\d\dT.*Z \(clock tolerance 30s\)$/);
    expect(expired.delivery).toEqual({ kind: 'http', status: 401 });
    await expectRefusal(auth, await sign(rsa1, { nbf: now() + 120 }), 'AUTH_NOT_YET_VALID');

    const justExpired = await sign(rsa1, { exp: now() - 10 });
    const almostValid = await sign(rsa1, { nbf: now() + 10 });
    expect((await auth.authenticate(`Bearer ${justExpired}`)).sub).toBe('alice');
    expect((await auth.authenticate(`Bearer ${almostValid}`)).sub).toBe('alice');
    const strict = createAuthenticator(config({ clockToleranceSec: 0 }));
    await expectRefusal(strict, justExpired, 'AUTH_EXPIRED');
    await expectRefusal(strict, almostValid, 'AUTH_NOT_YET_VALID');
  });

  it('requires exp and sub', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    const noExp = await new SignJWT({ iss: IDP, aud: AUD, sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa1.privateKey);
    expect((await expectRefusal(auth, noExp, 'AUTH_MISSING_CLAIM')).data).toMatchObject({ claim: 'exp' });
    expect((await expectRefusal(auth, await sign(rsa1, { sub: undefined }), 'AUTH_MISSING_CLAIM')).data).toMatchObject({ claim: 'sub' });
    expect((await expectRefusal(auth, await sign(rsa1, { iss: undefined }), 'AUTH_MISSING_CLAIM')).data).toMatchObject({ claim: 'iss' });
    await expectRefusal(auth, await sign(rsa1, { exp: 'tomorrow' as unknown as number }), 'AUTH_INVALID_CLAIM');
  });

  it('refuses a wrong audience and an unknown issuer, matching issuers exactly', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    const aud = await expectRefusal(auth, await sign(rsa1, { aud: 'someone-else' }), 'AUTH_WRONG_AUDIENCE');
    expect(aud.message).toBe('token audience is not one of "pushgate", "other-app"');
    await expectRefusal(auth, await sign(rsa1, { aud: undefined }), 'AUTH_MISSING_CLAIM');
    await expectRefusal(auth, await sign(rsa1, { iss: 'https://evil.example.com/' }), 'AUTH_WRONG_ISSUER');
    // No normalisation: a missing trailing slash or a different case is another issuer.
    await expectRefusal(auth, await sign(rsa1, { iss: 'https://idp.example.com' }), 'AUTH_WRONG_ISSUER');
    await expectRefusal(auth, await sign(rsa1, { iss: 'https://IDP.example.com/' }), 'AUTH_WRONG_ISSUER');
  });

  it('refuses alg "none", whichever issuer the token names', async () => {
    const auth = createAuthenticator(config());
    for (const iss of [IDP, GATEWAY, FILE_IDP]) {
      const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss, aud: AUD, sub: 'root', exp: now() + 300 })}.`;
      const err = await expectRefusal(auth, unsigned, 'AUTH_ALG_NOT_ALLOWED');
      expect(err.message).toContain('"none"');
    }
  });

  it('refuses HS256 signed with the issuer\'s RSA public key as the HMAC secret', async () => {
    published = [rsa1.publicJwk];
    const auth = createAuthenticator(config());
    const pem = await exportSPKI(rsa1.publicKey);
    for (const secret of [new TextEncoder().encode(pem), Buffer.from(rsa1.publicJwk.n!, 'base64url')]) {
      const confused = await new SignJWT({ iss: IDP, aud: AUD, sub: 'root', exp: now() + 300 })
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .sign(secret);
      await expectRefusal(auth, confused, 'AUTH_ALG_NOT_ALLOWED');
    }
  });

  it('refuses an algorithm outside the issuer\'s allow-list even when the key would verify it', async () => {
    published = [rsa1.publicJwk, ec1.publicJwk];
    const auth = createAuthenticator(config());
    const hits0 = jwksHits;
    const err = await expectRefusal(auth, await sign(rsa1, { iss: IDP_ES_ONLY }), 'AUTH_ALG_NOT_ALLOWED');
    expect(err.message).toBe(`token algorithm "RS256" is not allowed for issuer "${IDP_ES_ONLY}" (allowed: ES256)`);
    expect(jwksHits).toBe(hits0); // refused before any key was fetched
    expect((await auth.authenticate(`Bearer ${await sign(ec1, { iss: IDP_ES_ONLY })}`)).issuer).toBe(IDP_ES_ONLY);
  });

  it('reports an unreachable, slow or failing JWKS endpoint as AUTH_ISSUER_UNAVAILABLE (503)', async () => {
    const auth = createAuthenticator(config());
    for (const iss of [DOWN_IDP, SLOW_IDP, ERROR_IDP]) {
      const started = Date.now();
      const err = await expectRefusal(auth, await sign(rsa1, { iss }), 'AUTH_ISSUER_UNAVAILABLE');
      expect(err.delivery).toEqual({ kind: 'http', status: 503 });
      expect(err.message).toContain(iss);
      expect(Date.now() - started).toBeLessThan(4000);
    }
  });

  it('answers missing and malformed headers with their own codes', async () => {
    const auth = createAuthenticator(config());
    const missing = await auth.authenticate(undefined).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'AUTH_MISSING', delivery: { kind: 'http', status: 401 } });
    const token = await sign(rsa1, {});
    for (const header of [token, `Token ${token}`, `Basic ${Buffer.from(token).toString('base64')}`, `Basic ${token}`, `Bearer ${token} x`]) {
      const err = await auth.authenticate(header).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'AUTH_MALFORMED' });
      const shown = JSON.stringify((err as AuthError).toJSON());
      for (const part of token.split('.')) expect(shown).not.toContain(part);
    }
  });

  it('reports a JWKS file that cannot be read at startup and per request', async () => {
    const auth = createAuthenticator(config({
      issuers: [{ issuer: FILE_IDP, audience: AUD, jwksFile: join(tmp, 'no-such-jwks.json') }],
    }));
    await expect(auth.ready()).rejects.toMatchObject({ code: 'AUTH_CONFIG_INVALID' });
    await expectRefusal(auth, await sign(ec1, { iss: FILE_IDP }), 'AUTH_ISSUER_UNAVAILABLE');
  });

  it('refuses configs that would weaken verification', () => {
    const bad: Array<[string, Partial<AuthConfig>, Partial<IssuerConfig>]> = [
      ['HS256 allowed', {}, { algorithms: ['HS256'] }],
      ['none allowed', {}, { algorithms: ['none'] }],
      ['no algorithms', {}, { algorithms: [] }],
      ['plain http to a remote host', {}, { jwksUri: 'http://idp.example.com/jwks' }],
      ['both key sources', {}, { jwksFile: join(tmp, 'jwks.json') }],
      ['no key source', {}, { jwksUri: undefined }],
      ['an empty audience', {}, { audience: [] }],
      ['a negative cooldown', {}, { jwksCooldownMs: -1 }],
      ['the gateway issuer reused', {}, { issuer: GATEWAY }],
      ['a huge clock tolerance', { clockToleranceSec: 3600 }, {}],
      ['an agent claim that gateway tokens set', { agentClaim: 'groups' }, {}],
    ];
    for (const [what, overrides, idp] of bad) {
      let code: string | undefined;
      try {
        createAuthenticator(config(overrides, idp));
      } catch (e) {
        code = (e as AuthError).code;
      }
      expect({ what, code }).toEqual({ what, code: 'AUTH_CONFIG_INVALID' });
    }
    expect(() => createAuthenticator(config({}, { jwksUri: 'https://idp.example.com/jwks', algorithms: ['ES256', 'EdDSA', 'Ed25519'] }))).not.toThrow();
  });
});
