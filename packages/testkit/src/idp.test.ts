import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestIdentityProvider, type TestIdpAlgorithm } from './idp';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pushgate-idp-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('startTestIdentityProvider', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as TestIdpAlgorithm[]) {
    it(`mints ${alg} tokens that verify against its JWKS URL and its JWKS file`, async () => {
      const idp = await startTestIdentityProvider({ alg });
      try {
        const token = await idp.mint({ sub: 'alice', aud: 'pushgate', email: 'alice@example.com', groups: ['dev'], agent: true, session: 's-1' });
        expect(decodeProtectedHeader(token)).toEqual({ alg, kid: idp.kid, typ: 'JWT' });
        const expected = { iss: idp.issuer, sub: 'alice', aud: 'pushgate', email: 'alice@example.com', groups: ['dev'], agent: true, session: 's-1' };

        const remote = await jwtVerify(token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.url, audience: 'pushgate', algorithms: [alg] });
        expect(remote.payload).toMatchObject(expected);
        expect(remote.payload.exp! - remote.payload.iat!).toBe(300);
        expect(idp.jwksRequests).toBe(1);

        const file = join(dir, `jwks-${alg}.json`);
        await idp.writeJwksFile(file);
        const local = createLocalJWKSet(JSON.parse(await readFile(file, 'utf8')) as JSONWebKeySet);
        expect((await jwtVerify(token, local, { issuer: idp.issuer, audience: 'pushgate', algorithms: [alg] })).payload).toMatchObject(expected);
      } finally {
        await idp.close();
      }
    });
  }

  it('mints expired, not-yet-valid, issuer-less and foreign-kid tokens that a verifier refuses', async () => {
    const idp = await startTestIdentityProvider({ issuer: 'https://idp.example.test' });
    try {
      const keys = createLocalJWKSet(idp.jwks());
      const verify = (t: string) => jwtVerify(t, keys, { issuer: 'https://idp.example.test', audience: 'pushgate', algorithms: ['RS256'] });
      await expect(verify(await idp.mint({ sub: 'a', aud: 'pushgate', expiresIn: -60 }))).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
      await expect(verify(await idp.mint({ sub: 'a', aud: 'pushgate', notBefore: 600 }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf' });
      await expect(verify(await idp.mint({ sub: 'a', aud: 'pushgate', iss: null }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
      await expect(verify(await idp.mint({ sub: 'a', aud: 'other' }))).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
      await expect(verify(await idp.mint({ sub: 'a', aud: 'pushgate' }, { kid: 'unknown' }))).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
      const noExp = await idp.mint({ sub: 'a', aud: 'pushgate', expiresIn: null });
      expect((await verify(noExp)).payload.exp).toBeUndefined();
    } finally {
      await idp.close();
    }
  });

  it('mints the alg:none and HS256-with-public-key forgeries', async () => {
    const idp = await startTestIdentityProvider();
    try {
      const keys = createLocalJWKSet(idp.jwks());
      const options = { issuer: idp.issuer, audience: 'pushgate', algorithms: ['RS256'] };

      const unsigned = idp.mintUnsigned({ sub: 'mallory', aud: 'pushgate' });
      expect(decodeProtectedHeader(unsigned)).toEqual({ alg: 'none', typ: 'JWT' });
      expect(unsigned.endsWith('.')).toBe(true);
      await expect(jwtVerify(unsigned, keys, options)).rejects.toThrow();

      const confused = await idp.mintHs256WithPublicKey({ sub: 'mallory', aud: 'pushgate' });
      expect(decodeProtectedHeader(confused)).toEqual({ alg: 'HS256', typ: 'JWT', kid: idp.kid });
      await expect(jwtVerify(confused, keys, options)).rejects.toThrow();
      // It is the genuine attack: a verifier that took the PEM as an HMAC secret would accept it.
      const naive = await jwtVerify(confused, Buffer.from(idp.publicKeyPem), { ...options, algorithms: ['HS256'] });
      expect(naive.payload.sub).toBe('mallory');
    } finally {
      await idp.close();
    }
  });

  it('rotates keys, keeping or dropping the previous one', async () => {
    const idp = await startTestIdentityProvider({ alg: 'ES256' });
    try {
      const options = { issuer: idp.issuer, audience: 'pushgate', algorithms: ['ES256'] };
      const before = await idp.mint({ sub: 'a', aud: 'pushgate' });
      const firstKid = idp.kid;
      const secondKid = await idp.rotate();
      expect(secondKid).not.toBe(firstKid);
      expect(idp.kid).toBe(secondKid);
      expect(idp.jwks().keys.map((k) => k.kid)).toEqual([secondKid, firstKid]);
      const after = await idp.mint({ sub: 'a', aud: 'pushgate' });
      expect(decodeProtectedHeader(after).kid).toBe(secondKid);
      const fresh = () => createRemoteJWKSet(new URL(idp.jwksUri));
      await jwtVerify(before, fresh(), options);
      await jwtVerify(after, fresh(), options);

      await idp.rotate({ previous: 'drop' });
      expect(idp.jwks().keys).toHaveLength(1);
      await expect(jwtVerify(after, fresh(), options)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
      await jwtVerify(await idp.mint({ sub: 'a', aud: 'pushgate' }), fresh(), options);
      expect(idp.jwksRequests).toBe(4);

      const discovery = (await (await fetch(`${idp.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(discovery).toMatchObject({ issuer: idp.issuer, jwks_uri: idp.jwksUri });
    } finally {
      await idp.close();
    }
  });
});
