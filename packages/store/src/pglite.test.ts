/** The embedded database's directory lock: PGlite itself would let two instances share a directory. */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './index';
import { rejection } from './testing';

const exists = (path: string) => access(path).then(() => true, () => false);

describe('embedded database directory', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('is created as needed, locked while open, and unlocked when closed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pushgate-store-lock-'));
    dirs.push(root);
    const dataDir = join(root, 'not', 'yet');
    const lockFile = join(dataDir, 'pglite.lock');
    const db = await openDatabase({ dataDir });
    try {
      expect(db.kind).toBe('pglite');
      expect(db.description).toBe(`embedded database at ${join(dataDir, 'pglite')}`);
      expect(await readFile(lockFile, 'utf8')).toBe(`${process.pid}\n${hostname()}\n`);
      const e = await rejection(openDatabase({ dataDir }));
      expect(e.code).toBe('STORE_DATADIR_LOCKED');
      expect(e.data).toMatchObject({ pid: process.pid, lockFile });
    } finally {
      await db.close();
    }
    expect(await exists(lockFile)).toBe(false);

    // A live process of this host holds it.
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(lockFile, `${child.pid}\n${hostname()}\n`);
      const e = await rejection(openDatabase({ dataDir }));
      expect(e.code).toBe('STORE_DATADIR_LOCKED');
      expect(e.message).toContain(`in use by process ${child.pid}`);
    } finally {
      child.kill();
    }

    // Another host holds it: that cannot be checked, so it is refused with a way out.
    await writeFile(lockFile, `4242\nsome-other-host\n`);
    const other = await rejection(openDatabase({ dataDir }));
    expect(other.code).toBe('STORE_DATADIR_LOCKED');
    expect(other.message).toContain(`delete ${lockFile}`);

    // A lock left by a process that is gone is stale, and taken over; the data is still there.
    const dead = spawnSync('true').pid;
    await writeFile(lockFile, `${dead}\n${hostname()}\n`);
    const reopened = await openDatabase({ dataDir });
    try {
      expect(await readFile(lockFile, 'utf8')).toBe(`${process.pid}\n${hostname()}\n`);
      await expect(reopened.ping()).resolves.toBeUndefined();
    } finally {
      await reopened.close();
    }
  });
});
