/**
 * PostgreSQL through a `pg.Pool`, for several gateway replicas sharing one server. Every
 * connection identifies itself as application_name 'pushgate', has a statement timeout and an
 * idle-in-transaction timeout (so a stuck request cannot hold row locks forever), and uses the
 * value parsers of values.ts. Messages name the server by its URL with the password masked.
 */
import { Pool, type PoolClient, type QueryConfig, type QueryResult as PgQueryResult } from 'pg';
import { silentLogger, type Logger } from '@pushgate/core';
import { DriverDatabase, type Database, type Driver } from './database';
import { StoreError, abortedCommitError, describe, errorField } from './errors';
import { PgListener } from './listener';
import { parseDatabaseUrl } from './url';
import { textParser } from './values';

/** Connections per process: enough for concurrent pushes, few enough for several replicas on one server's default max_connections (100). */
export const DEFAULT_POOL_SIZE = 10;
/** A statement running this long is a bug or a stuck lock; cancel it rather than hold a request. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** Time to get a connection before the request fails with STORE_UNAVAILABLE. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A session idle inside a transaction this long is ended by the server, releasing its locks. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
/** Idle connections are closed after this long, so a quiet replica does not hold server slots. */
const IDLE_CONNECTION_TIMEOUT_MS = 30_000;

/** Options of openPostgres. */
export interface PostgresOptions {
  readonly logger?: Logger;
  readonly poolSize?: number;
  readonly statementTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

type ExtendedQuery = QueryConfig<unknown[]> & { readonly queryMode: 'extended' };

async function run(client: Pool | PoolClient, sql: string, params: unknown[]) {
  // The extended protocol even without parameters, as PGlite does: several statements in one
  // query then fail the same way on both backends instead of silently running on one.
  const query: ExtendedQuery = { text: sql, values: params, queryMode: 'extended' };
  const r: PgQueryResult = await client.query(query);
  return { rows: r.rows as unknown[], rowCount: r.rowCount ?? 0 };
}

/** Connects to PostgreSQL at `url`, checking the connection before returning. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  const logger = options.logger ?? silentLogger;
  const target = parseDatabaseUrl(url);
  const description = `PostgreSQL at ${target.masked}`;
  const statementTimeout = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const pool = new Pool({
    connectionString: target.url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_CONNECTION_TIMEOUT_MS,
    statement_timeout: statementTimeout === 0 ? false : statementTimeout,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    application_name: 'pushgate',
    keepAlive: true,
    types: { getTypeParser: ((oid: number) => textParser(oid)) as NonNullable<QueryConfig['types']>['getTypeParser'] },
  });
  // An idle connection that dies (server restart, network) is reported here; without a listener
  // the pool's error would crash the process. The next query gets a fresh connection.
  pool.on('error', (e) => {
    logger.warn('idle PostgreSQL connection failed', { database: description, error: target.scrub(describe(e)) });
  });

  // pg-pool listens for errors only on idle connections; a checked-out connection that dies
  // (server restart, pg_terminate_backend) emits 'error' on the client itself, which without a
  // listener would crash the process. The failing query rejects anyway, so this only logs.
  const checkout = async (): Promise<{ client: PoolClient; release: (destroy: boolean) => void }> => {
    const client = await pool.connect();
    const onError = (e: Error) => {
      logger.warn('PostgreSQL connection failed while in use', { database: description, error: target.scrub(describe(e)) });
    };
    client.on('error', onError);
    return {
      client,
      release: (destroy) => {
        client.release(destroy ? true : undefined);
        client.off('error', onError);
      },
    };
  };

  try {
    const { client, release } = await checkout();
    try {
      await client.query('SELECT 1');
    } finally {
      release(false);
    }
  } catch (e) {
    await pool.end().catch(() => undefined);
    const message = target.scrub(describe(e));
    const code = errorField(e, 'code');
    throw new StoreError('STORE_CONNECT_FAILED', `cannot connect to ${description}: ${message}`, {
      url: target.masked,
      ...(code === undefined ? {} : { code }),
    });
  }

  const listener = new PgListener({
    url: target.url,
    description,
    scrub: target.scrub,
    logger,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  });
  const driver: Driver = {
    kind: 'postgres',
    description,
    scrub: target.scrub,
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const { client, release } = await checkout();
      // A connection whose transaction state is unknown (BEGIN, COMMIT or ROLLBACK failed) is
      // destroyed rather than handed to the next request.
      let destroy = true;
      try {
        await client.query('BEGIN');
        let result;
        try {
          result = await fn((sql, params) => run(client, sql, params));
        } catch (e) {
          try {
            await client.query('ROLLBACK');
            destroy = false;
          } catch (rollbackError) {
            logger.warn('ROLLBACK failed; closing the connection', {
              database: description,
              error: target.scrub(describe(rollbackError)),
            });
          }
          throw e;
        }
        const commit: PgQueryResult = await client.query('COMMIT');
        destroy = false;
        // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not an error.
        if (commit.command === 'ROLLBACK') throw abortedCommitError(description);
        return result;
      } finally {
        release(destroy);
      }
    },
    listen: (channel, onNotify) => listener.listen(channel, onNotify),
    async close() {
      await listener.close();
      await pool.end();
    },
  };
  logger.info('database opened', { database: description, kind: 'postgres' });
  return new DriverDatabase(driver, logger);
}
