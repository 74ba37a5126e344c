/**
 * What the benchmark scripts share: medians, a process's memory from /proc, a throw-away
 * PostgreSQL database for a gateway's audit store, a one-line description of the machine; and,
 * from page.ts, writing the page.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import pg from 'pg';

export { BENCHMARKS_PATH, RESULTS_DIR, ROOT, goalCell, formatGoalValue, readGoals, writeGoals, writeSection, type Goal } from './page';

export const MB = 1024 * 1024;

/**
 * The node flag bin/pushgate.js runs the gateway with (its shebang, with glibc's allocator
 * thresholds); testkit's child gateways run through it, so the benchmarks measure what production runs.
 */
export const GATEWAY_NODE_OPTIONS = '--max-semi-space-size=2';

/** The median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Current and peak resident set size of a process, in bytes (VmRSS, VmHWM). */
export async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets a process's VmHWM to its current RSS (proc(5), clear_refs "5"), so the next peak is the next operation's. */
export async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** CPUs, RAM, Node and git, for the "measured on" line. */
export function machine(gitVersion: string): string {
  return `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}, ${gitVersion.trim()}`;
}

/** The 1-minute load average (the machine is shared: a busy neighbour shows here). */
export function load(): number {
  return loadavg()[0];
}

async function pgAdmin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A gateway's audit store for a benchmark. */
export type BenchDatabase =
  | { readonly kind: 'postgres'; readonly adminUrl: string; readonly name: string; readonly url: string }
  | { readonly kind: 'pglite' };

/** The PostgreSQL server benchmarks use (PUSHGATE_BENCH_PG_URL, else the local one). */
export const PG_ADMIN_URL = process.env.PUSHGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh PostgreSQL database, or the embedded store. */
export async function createDatabase(kind: BenchDatabase['kind']): Promise<BenchDatabase> {
  if (kind === 'pglite') return { kind };
  const name = `pushgate_bench_${randomBytes(5).toString('hex')}`;
  await pgAdmin(PG_ADMIN_URL, `CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { kind, adminUrl: PG_ADMIN_URL, name, url: url.toString() };
}

/** Whether PostgreSQL answers at PG_ADMIN_URL. */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await pgAdmin(PG_ADMIN_URL, 'SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** Drops a database made by createDatabase (nothing for the embedded store). */
export async function dropDatabase(db: BenchDatabase): Promise<void> {
  if (db.kind === 'postgres') await pgAdmin(db.adminUrl, `DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`).catch(() => undefined);
}

/** The gateway config's `database` key for `db` (absent: the embedded store in the data directory). */
export function databaseConfig(db: BenchDatabase): Record<string, unknown> {
  return db.kind === 'postgres' ? { database: { url: db.url } } : {};
}
