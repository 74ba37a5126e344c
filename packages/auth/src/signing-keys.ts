/**
 * The gateway's own signing key: one Ed25519 key pair (JWS `alg` "EdDSA", RFC 8037) stored as a
 * private JWK with a `kid`. A single process generates it on first use under its data directory;
 * replicas share one by pointing `keyFile` at the same file (a mounted secret), because a token
 * signed by one replica must verify on all of them.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { AuthError } from './errors';

/** The gateway's key pair, ready to sign (`privateKey`) and verify (`publicKey`) tokens. */
export interface GatewaySigningKeys {
  /** Key id put in every token's header; by default the RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as a JWK (with `kid`, `alg`, `use`), for publishing as a JWKS. */
  readonly publicJwk: Readonly<JWK>;
  /** The file the key was loaded from. */
  readonly file: string;
}

/** Where the signing key lives: generated under `dataDir`, or a shared file given in config. */
export interface SigningKeyLocation {
  readonly dataDir: string;
  /** A key file shared by replicas; it must exist (it is never generated, see loadOrCreateSigningKeys). */
  readonly keyFile?: string;
}

/** The path of the generated key under a data directory: `<dataDir>/keys/gateway-signing-key.json`. */
export function defaultSigningKeyFile(dataDir: string): string {
  return join(dataDir, 'keys', 'gateway-signing-key.json');
}

/**
 * Loads the signing key, generating it first when neither `keyFile` is configured nor the default
 * file exists. A configured `keyFile` that is missing is an error rather than generated: replicas
 * on separate disks would each make their own key and reject each other's tokens.
 */
export async function loadOrCreateSigningKeys(location: SigningKeyLocation): Promise<GatewaySigningKeys> {
  if (location.keyFile !== undefined) return loadSigningKeys(location.keyFile);
  const file = defaultSigningKeyFile(location.dataDir);
  const existing = await readKeyFile(file);
  if (existing.kind === 'found') return parseSigningKeys(existing.text, file);
  await createSigningKeyFile(file);
  return loadSigningKeys(file);
}

/** Loads a signing key file (a private Ed25519 JWK with a `kid`). */
export async function loadSigningKeys(file: string): Promise<GatewaySigningKeys> {
  const read = await readKeyFile(file);
  if (read.kind === 'missing') {
    throw new AuthError('AUTH_SIGNING_KEY_INVALID', `signing key file ${file} does not exist`, { file });
  }
  return parseSigningKeys(read.text, file);
}

/**
 * Generates a key into `file` unless one is already there, and reports which happened. The key is
 * written in full to a private temporary file and then hard-linked into place: `link` never
 * replaces an existing file, so when two processes start at once exactly one key wins, and no
 * reader ever sees a half-written file.
 */
export async function createSigningKeyFile(file: string): Promise<{ readonly kind: 'created' | 'existing' }> {
  const dir = dirname(file);
  await mkdir(dirname(dir), { recursive: true });
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw keyFileError(file, 'cannot create its directory', e);
  }
  // A directory that already existed keeps whatever mode it had; the key must not be listable
  // or replaceable by other users, so tighten it.
  const dirStat = await stat(dir);
  if ((dirStat.mode & 0o077) !== 0) await chmod(dir, 0o700);

  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA', use: 'sig' };

  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(jwk, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, file);
    await syncDir(dir);
    return { kind: 'created' };
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return { kind: 'existing' };
    throw keyFileError(file, 'cannot move the new key into place', e);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readKeyFile(file: string): Promise<{ kind: 'found'; text: string } | { kind: 'missing' }> {
  try {
    return { kind: 'found', text: await readFile(file, 'utf8') };
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return { kind: 'missing' };
    throw keyFileError(file, 'cannot be read', e);
  }
}

const B64URL_RE = /^[A-Za-z0-9_-]+$/;

async function parseSigningKeys(text: string, file: string): Promise<GatewaySigningKeys> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw keyFileError(file, 'is not JSON', e);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw keyFileError(file, 'is not a JSON object (a private JWK)');
  }
  const jwk = parsed as Record<string, unknown>;
  const { kty, crv, x, d, kid, alg } = jwk;
  if (kty !== 'OKP' || crv !== 'Ed25519') {
    throw keyFileError(file, `holds kty ${String(kty)} crv ${String(crv)}; expected an OKP Ed25519 key`);
  }
  if (typeof x !== 'string' || !B64URL_RE.test(x)) throw keyFileError(file, 'has no public part "x"');
  if (typeof d !== 'string' || !B64URL_RE.test(d)) throw keyFileError(file, 'has no private part "d"');
  if (typeof kid !== 'string' || kid === '') throw keyFileError(file, 'has no "kid"');
  if (alg !== undefined && alg !== 'EdDSA') throw keyFileError(file, `declares alg ${String(alg)}; expected EdDSA`);

  let privateKey: CryptoKey;
  let publicKey: CryptoKey;
  try {
    privateKey = (await importJWK({ kty, crv, x, d }, 'EdDSA', { extractable: false })) as CryptoKey;
    publicKey = (await importJWK({ kty, crv, x }, 'EdDSA')) as CryptoKey;
  } catch (e) {
    // The runtime checks that "x" is the public half of "d", so a key pieced together from two
    // files fails here rather than on the first token the gateway cannot verify.
    throw keyFileError(file, 'holds a key that cannot be imported (is "x" the public half of "d"?)', e);
  }
  const publicJwk: JWK = Object.freeze({ kty, crv, x, kid, alg: 'EdDSA', use: 'sig' });
  return { kid, alg: 'EdDSA', privateKey, publicKey, publicJwk, file };
}

async function syncDir(dir: string): Promise<void> {
  // Makes the new directory entry durable; a crash right after startup must not lose the key
  // that tokens were already issued with.
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function keyFileError(file: string, what: string, cause?: unknown): AuthError {
  return new AuthError('AUTH_SIGNING_KEY_INVALID', `signing key file ${file} ${what}`, { file }, cause);
}

function isErrno(e: unknown, code: string): boolean {
  // Structural rather than `instanceof Error`: errors from node:fs may come from another realm.
  return typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code === code;
}
