/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) stored in `<dataDir>/pglite`.
 *
 * PGlite is one connection. Its `transaction()` holds a mutex that its plain `query()` also waits
 * for, so statements of concurrent requests never run inside each other's transactions; the
 * store's tests pin that behaviour. PGlite itself does not stop a second instance (in this process
 * or another) from opening the same directory, which would corrupt it, so the directory is locked
 * here with a lock file naming the owning process.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { access, mkdir, open, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { silentLogger, type Logger } from '@pushgate/core';
import { DriverDatabase, type Database, type Driver } from './database';
import { StoreError, abortedCommitError, describe, errorField } from './errors';
import { TEXT_PARSERS } from './values';

/** Directories this process has open; a second open here is refused like one from another process. */
const openHere = new Set<string>();

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return errorField(e, 'code') === 'EPERM';
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    const [pid, host] = (await readFile(lockPath, 'utf8')).split('\n');
    const n = Number(pid);
    return Number.isSafeInteger(n) && n > 0 ? { pid: n, host: host ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

async function acquireLock(dir: string, lockPath: string): Promise<void> {
  const locked = (owner: LockOwner): StoreError =>
    new StoreError(
      'STORE_DATADIR_LOCKED',
      `the embedded database at ${dir} is in use by process ${owner.pid} on ${owner.host || 'an unknown host'}; ` +
        `stop that process, or set database.url to share a PostgreSQL server` +
        (owner.host !== hostname() ? ` (if no process uses it, delete ${lockPath})` : ''),
      { dataDir: dir, lockFile: lockPath, pid: owner.pid, host: owner.host },
    );
  if (openHere.has(dir)) throw locked({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n${hostname()}\n`);
      await handle.close();
      openHere.add(dir);
      return;
    } catch (e) {
      if (errorField(e, 'code') !== 'EEXIST') throw e;
    }
    const owner = await readOwner(lockPath);
    // A lock from another host cannot be checked; one from a dead process (or from an earlier
    // run of this one, as happens with pid 1 in containers) is stale.
    if (owner !== undefined && (owner.host !== hostname() || (owner.pid !== process.pid && isAlive(owner.pid)))) {
      throw locked(owner);
    }
    await rm(lockPath, { force: true });
  }
  throw locked((await readOwner(lockPath)) ?? { pid: 0, host: '' });
}

async function releaseLock(dir: string, lockPath: string): Promise<void> {
  openHere.delete(dir);
  const owner = await readOwner(lockPath);
  if (owner?.pid === process.pid && owner.host === hostname()) await rm(lockPath, { force: true });
}

function isAbortedCommit(e: unknown): boolean {
  return errorField(e, 'code') === '25P02' && errorField(e, 'query') === 'COMMIT';
}

/**
 * PostgreSQL settings for the embedded database. Its shared buffers live in the gateway's own
 * memory (WebAssembly), so the server default of 128 MB would be most of the gateway's footprint;
 * 16 MB is plenty for audit rows and held pushes' metadata (measured: ~300 MB → ~200 MB RSS).
 */
const START_PARAMS = [...(PGlite as unknown as { defaultStartParams: string[] }).defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Creates a new database directory in a child process: initdb inside PGlite grows the WebAssembly
 * memory to ~800 MB, which a process never gives back, so doing it in the gateway itself would
 * leave every freshly set-up gateway (the demo, a first start) at that size for its whole life.
 */
async function initialiseInChild(dir: string): Promise<void> {
  const moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const code = `const { PGlite } = await import(process.env.PGLITE_MODULE);
const db = await PGlite.create({ dataDir: process.env.PGLITE_DIR, startParams: JSON.parse(process.env.PGLITE_PARAMS) });
await db.close();`;
  await new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { PATH: process.env.PATH, PGLITE_MODULE: moduleUrl, PGLITE_DIR: dir, PGLITE_PARAMS: JSON.stringify(START_PARAMS) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`initialising exited with ${code}: ${stderr.trim()}`))));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Opens (creating when needed) the embedded database in `<dataDir>/pglite`. */
export async function openPglite(dataDir: string, logger: Logger = silentLogger): Promise<Database> {
  const dir = resolve(dataDir, 'pglite');
  const lockPath = resolve(dataDir, 'pglite.lock');
  const description = `embedded database at ${dir}`;
  await mkdir(dir, { recursive: true });
  await acquireLock(dir, lockPath);
  let pg: PGlite;
  try {
    if (!(await exists(resolve(dir, 'PG_VERSION')))) await initialiseInChild(dir);
    pg = await PGlite.create({ dataDir: dir, startParams: START_PARAMS });
  } catch (e) {
    await releaseLock(dir, lockPath);
    throw new StoreError('STORE_CONNECT_FAILED', `cannot open the ${description}: ${describe(e)}`, { dataDir: dir }, e);
  }
  // Replaced whole, not merged: types outside the shared table come back as text, as on `pg`.
  pg.parsers = { ...TEXT_PARSERS };

  const driver: Driver = {
    kind: 'pglite',
    description,
    scrub: (text) => text,
    async query(sql, params) {
      const r = await pg.query<unknown>(sql, params);
      return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length };
    },
    async transaction(fn) {
      try {
        return await pg.transaction((tx) =>
          fn(async (sql, params) => {
            const r = await tx.query<unknown>(sql, params);
            return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length };
          }),
        );
      } catch (e) {
        if (isAbortedCommit(e)) throw abortedCommitError(description);
        throw e;
      }
    },
    async listen(channel, onNotify) {
      // In-process: PGlite delivers a notification when the transaction that sent it commits.
      const stop = await pg.listen(channel, onNotify);
      return () => stop();
    },
    async close() {
      try {
        await pg.close();
      } finally {
        await releaseLock(dir, lockPath);
      }
    },
  };
  logger.info('database opened', { database: description, kind: 'pglite' });
  return new DriverDatabase(driver, logger);
}
