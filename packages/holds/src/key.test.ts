/** The hold key: from the configuration, or generated once in the data directory, atomically. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HoldError } from './errors';
import { HOLD_KEY_FILE, loadHoldKey } from './key';

const dirs: string[] = [];
async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pushgate-hold-key-'));
  dirs.push(d);
  return d;
}
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function invalid(p: Promise<unknown>): Promise<HoldError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HoldError && e.code === 'HOLD_KEY_INVALID') return e;
    throw e;
  }
  throw new Error('expected HOLD_KEY_INVALID');
}

describe('loadHoldKey', () => {
  it('takes the configured key, with its id the first 16 hex of its SHA-256', async () => {
    const raw = randomBytes(32);
    const key = await loadHoldKey({ dataDir: '/nonexistent', key: raw.toString('base64') });
    expect(key.key).toEqual(raw);
    expect(key.id).toBe(createHash('sha256').update(raw).digest('hex').slice(0, 16));
    expect((await loadHoldKey({ dataDir: '/nonexistent', key: ` ${raw.toString('base64url')}\n` })).key).toEqual(raw);
  });

  it.each([
    ['too short', randomBytes(16).toString('base64'), '16 bytes'],
    ['too long', randomBytes(48).toString('base64'), '48 bytes'],
    ['not base64', 'this is not a key!', 'not base64'],
    ['empty', '', 'not base64'],
  ])('refuses a key that is %s, saying how to make one', async (_name, key, says) => {
    const e = await invalid(loadHoldKey({ dataDir: '/nonexistent', key }));
    expect(e.message).toContain(says);
    expect(e.message).toContain('openssl rand -base64 32');
    expect(e.message).not.toContain(key === '' ? '\0' : key);
  });

  it('generates a key file once (mode 0600) and reads the same key afterwards', async () => {
    const dir = join(await dataDir(), 'nested');
    const first = await loadHoldKey({ dataDir: dir });
    expect(first.key).toHaveLength(32);
    expect((await stat(join(dir, HOLD_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadHoldKey({ dataDir: dir })).toEqual(first);
    expect(await readdir(dir)).toEqual([HOLD_KEY_FILE]);
  });

  it('refuses a damaged key file', async () => {
    const dir = await dataDir();
    await writeFile(join(dir, HOLD_KEY_FILE), 'c2hvcnQ=\n', { mode: 0o600 });
    const e = await invalid(loadHoldKey({ dataDir: dir }));
    expect(e.message).toContain(join(dir, HOLD_KEY_FILE));
  });

  it('ends with one key when many start at once, in this process and in others', async () => {
    const dir = await dataDir();
    const script = `import { loadHoldKey } from ${JSON.stringify(new URL('./key.ts', import.meta.url).pathname)};
const k = await loadHoldKey({ dataDir: process.argv[1] });
process.stdout.write(k.id);`;
    const child = () =>
      new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('error', reject);
        p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
      });
    const ids = await Promise.all([...Array.from({ length: 3 }, child), ...Array.from({ length: 5 }, () => loadHoldKey({ dataDir: dir }).then((k) => k.id))]);
    expect(new Set(ids).size).toBe(1);
    const onDisk = Buffer.from((await readFile(join(dir, HOLD_KEY_FILE), 'utf8')).trim(), 'base64');
    expect(createHash('sha256').update(onDisk).digest('hex').slice(0, 16)).toBe(ids[0]);
    expect(await readdir(dir)).toEqual([HOLD_KEY_FILE]);
  });
});
