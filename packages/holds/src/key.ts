/**
 * The key that encrypts held packs. It never enters the database (only its id does, so a replica
 * with another key reports HOLD_KEY_MISMATCH instead of decrypting garbage). It comes from the
 * configuration (`PUSHGATE_HOLD_KEY`, base64 of 32 bytes: replicas must share it) or, for a single
 * process, from `<dataDir>/hold-key`, generated on first start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HoldError } from './errors';

/** The pack encryption key and its public id. */
export interface HoldKey {
  /** First 16 hex digits of SHA-256 of the key: stored with each pack to detect a wrong key. */
  readonly id: string;
  /** 32 bytes (AES-256). */
  readonly key: Buffer;
}

/** The key file's name under `dataDir`. */
export const HOLD_KEY_FILE = 'hold-key';

const KEY_BYTES = 32;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+$/;

/** The HoldKey of 32 raw bytes. */
export function holdKeyFromBytes(key: Buffer): HoldKey {
  if (key.length !== KEY_BYTES) {
    throw new HoldError('HOLD_KEY_INVALID', `the hold key must be ${KEY_BYTES} bytes, not ${key.length}`, { bytes: key.length });
  }
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key: Buffer.from(key) };
}

function parseKey(text: string, where: string): HoldKey {
  const t = text.trim();
  const hint = `(generate one with \`openssl rand -base64 32\`)`;
  if (!BASE64_RE.test(t)) {
    throw new HoldError('HOLD_KEY_INVALID', `the hold key in ${where} is not base64 ${hint}`, { where });
  }
  const bytes = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  if (bytes.length !== KEY_BYTES) {
    throw new HoldError('HOLD_KEY_INVALID', `the hold key in ${where} decodes to ${bytes.length} bytes; it must be the base64 of ${KEY_BYTES} bytes ${hint}`, {
      where,
      bytes: bytes.length,
    });
  }
  return holdKeyFromBytes(bytes);
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof Reflect.get(e, 'code') === 'string' ? (Reflect.get(e, 'code') as string) : undefined;
}

async function readKeyFile(path: string): Promise<HoldKey | undefined> {
  try {
    return parseKey(await readFile(path, 'utf8'), path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Loads the hold key: `key` (base64 of 32 bytes) when given, else `<dataDir>/hold-key`, created
 * (mode 0600) when absent. Creation is atomic: the key is written whole to a private temporary
 * file that is then hard-linked to its name, which fails when the name exists, so processes
 * starting together all end with the first one's key and none ever reads a half-written file.
 * Throws HoldError HOLD_KEY_INVALID for a malformed key.
 */
export async function loadHoldKey(options: { readonly dataDir: string; readonly key?: string }): Promise<HoldKey> {
  if (options.key !== undefined) return parseKey(options.key, 'the configuration (PUSHGATE_HOLD_KEY)');
  const path = join(options.dataDir, HOLD_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;
  await mkdir(options.dataDir, { recursive: true });
  const key = randomBytes(KEY_BYTES);
  const temporary = join(options.dataDir, `.${HOLD_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${key.toString('base64')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
    return holdKeyFromBytes(key);
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e;
    // Another process created it first: theirs is the key.
    const theirs = await readKeyFile(path);
    if (theirs === undefined) throw e;
    return theirs;
  } finally {
    await rm(temporary, { force: true });
  }
}
