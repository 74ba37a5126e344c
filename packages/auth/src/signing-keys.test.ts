import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compactVerify, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { AuthError } from './errors';
import { issueToken } from './issue';
import { createSigningKeyFile, defaultSigningKeyFile, loadOrCreateSigningKeys, loadSigningKeys } from './signing-keys';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pushgate-auth-keys-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AuthError) return e.code;
    throw e;
  }
  return undefined;
}

/** Runs loadOrCreateSigningKeys in a separate Node process, starting at wall-clock `startAt`. */
function loadInChild(dataDir: string, startAt: number): Promise<string> {
  const script = `
    import { loadOrCreateSigningKeys } from ${JSON.stringify(join(here, 'signing-keys.ts'))};
    const wait = ${startAt} - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const keys = await loadOrCreateSigningKeys({ dataDir: ${JSON.stringify(dataDir)} });
    process.stdout.write(keys.kid);
  `;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'node_modules/tsx/dist/cli.mjs'), '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe('gateway signing keys', () => {
  it('creates the key once with private modes and loads the same key afterwards', async () => {
    const dataDir = join(tmp, 'once');
    const first = await loadOrCreateSigningKeys({ dataDir });
    const file = defaultSigningKeyFile(dataDir);
    expect(first.file).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(file))).mode & 0o777).toBe(0o700);
    const text = await readFile(file, 'utf8');
    const jwk = JSON.parse(text) as Record<string, unknown>;
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: first.kid });
    expect(typeof jwk['d']).toBe('string');
    expect(first.publicJwk).not.toHaveProperty('d');

    const second = await loadOrCreateSigningKeys({ dataDir });
    expect(second.kid).toBe(first.kid);
    expect(await readFile(file, 'utf8')).toBe(text);

    // A token signed with the first load verifies with the second load's public key.
    const token = await issueToken(first, { issuer: 'gw', audience: 'gw', sub: 's', agentClaim: 'agent', ttl: '1m' });
    const { payload } = await compactVerify(token, second.publicKey);
    expect(JSON.parse(Buffer.from(payload).toString())).toMatchObject({ sub: 's' });
  });

  it('tightens a keys directory that already existed with loose permissions', async () => {
    const dataDir = join(tmp, 'loose');
    await mkdir(join(dataDir, 'keys'), { recursive: true });
    await chmod(join(dataDir, 'keys'), 0o755);
    await loadOrCreateSigningKeys({ dataDir });
    expect((await stat(join(dataDir, 'keys'))).mode & 0o777).toBe(0o700);
  });

  it('agrees on one key when many loads race in one process', async () => {
    const dataDir = join(tmp, 'race-in-process');
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKeys({ dataDir })));
    expect(new Set(all.map((k) => k.kid)).size).toBe(1);
    expect((await loadOrCreateSigningKeys({ dataDir })).kid).toBe(all[0]!.kid);
  });

  it('agrees on one key when two processes start at once', async () => {
    const dataDir = join(tmp, 'race-processes');
    const startAt = Date.now() + 3000;
    const kids = await Promise.all([loadInChild(dataDir, startAt), loadInChild(dataDir, startAt)]);
    expect(kids[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(kids[1]).toBe(kids[0]);
    expect((await loadOrCreateSigningKeys({ dataDir })).kid).toBe(kids[0]);
  });

  it('loads a configured shared key file and never generates one in its place', async () => {
    const shared = join(tmp, 'shared', 'key.json');
    expect(await codeOf(loadOrCreateSigningKeys({ dataDir: join(tmp, 'replica-a'), keyFile: shared }))).toBe('AUTH_SIGNING_KEY_INVALID');
    expect(await createSigningKeyFile(shared)).toEqual({ kind: 'created' });
    expect(await createSigningKeyFile(shared)).toEqual({ kind: 'existing' });
    const a = await loadOrCreateSigningKeys({ dataDir: join(tmp, 'replica-a'), keyFile: shared });
    const b = await loadOrCreateSigningKeys({ dataDir: join(tmp, 'replica-b'), keyFile: shared });
    expect(b.kid).toBe(a.kid);
    const token = await issueToken(a, { issuer: 'gw', audience: 'gw', sub: 's', agentClaim: 'agent', ttl: '1m' });
    await expect(compactVerify(token, b.publicKey)).resolves.toBeDefined();
  });

  it('refuses key files that are not an Ed25519 private JWK with a kid, or whose halves differ', async () => {
    const { privateKey: edPrivate } = await generateKeyPair('EdDSA', { extractable: true });
    const { privateKey: otherPrivate } = await generateKeyPair('EdDSA', { extractable: true });
    const { privateKey: ecPrivate } = await generateKeyPair('ES256', { extractable: true });
    const ed = await exportJWK(edPrivate);
    const other = await exportJWK(otherPrivate);
    const cases: Array<[string, string, RegExp]> = [
      ['not json', '{', /is not JSON/],
      ['an array', '[]', /not a JSON object/],
      ['an EC key', JSON.stringify({ ...(await exportJWK(ecPrivate)), kid: 'k' }), /expected an OKP Ed25519 key/],
      ['no private part', JSON.stringify({ ...ed, d: undefined, kid: 'k' }), /no private part/],
      ['no kid', JSON.stringify(ed), /no "kid"/],
      ['a wrong alg', JSON.stringify({ ...ed, kid: 'k', alg: 'ES256' }), /expected EdDSA/],
      ['mismatched halves', JSON.stringify({ ...ed, x: other.x, kid: 'k' }), /cannot be imported/],
    ];
    for (const [name, text, message] of cases) {
      const file = join(tmp, 'bad', `${name.replace(/ /g, '-')}.json`);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text);
      const err = await loadSigningKeys(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).code).toBe('AUTH_SIGNING_KEY_INVALID');
      expect((err as AuthError).message).toMatch(message);
      expect((err as AuthError).message).not.toContain(String(ed.d));
    }
  });

  it('issues tokens with iat, exp, jti and the key id', async () => {
    const keys = await loadOrCreateSigningKeys({ dataDir: join(tmp, 'issue') });
    const before = Math.floor(Date.now() / 1000);
    const options = { issuer: 'https://gw', audience: 'pushgate', sub: 'bot-1', groups: ['ci', 'ci', 'bots'], agent: true, agentClaim: 'https://pushgate.dev/agent', ttl: '2h' };
    const [t1, t2] = [await issueToken(keys, options), await issueToken(keys, options)];
    expect(decodeProtectedHeader(t1)).toEqual({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' });
    const c1 = decodeJwt(t1);
    expect(c1).toMatchObject({ iss: 'https://gw', aud: 'pushgate', sub: 'bot-1', groups: ['ci', 'bots'], 'https://pushgate.dev/agent': true });
    expect(c1.iat).toBeGreaterThanOrEqual(before);
    expect(c1.exp! - c1.iat!).toBe(7200);
    expect(c1.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(t2).jti).not.toBe(c1.jti);
    expect(c1).not.toHaveProperty('email');

    expect(await codeOf(issueToken(keys, { ...options, ttl: '31d' }))).toBe('AUTH_TTL_TOO_LONG');
    expect(await codeOf(issueToken(keys, { ...options, ttl: 3601, maxTtlSec: 3600 }))).toBe('AUTH_TTL_TOO_LONG');
    expect(await codeOf(issueToken(keys, { ...options, ttl: 'forever' }))).toBe('AUTH_BAD_DURATION');
    expect(await codeOf(issueToken(keys, { ...options, ttl: 0 }))).toBe('AUTH_BAD_DURATION');
    expect(await codeOf(issueToken(keys, { ...options, sub: ' ' }))).toBe('AUTH_BAD_ISSUE_REQUEST');
    expect(await codeOf(issueToken(keys, { ...options, agentClaim: 'sub' }))).toBe('AUTH_CONFIG_INVALID');
  });
});
