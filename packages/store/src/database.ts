/**
 * One interface over PostgreSQL (`pg.Pool`, several gateway replicas sharing one server) and
 * embedded PGlite (one process, no server to install). The same SQL runs on both; values come
 * back the same way on both (see values.ts); errors come back as StoreError on both.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { silentLogger, type Logger } from '@pushgate/core';
import { StoreError, toStoreError } from './errors';
import { normaliseParam } from './values';

/** Which backend a Database runs on. */
export type DatabaseKind = 'pglite' | 'postgres';

/** The result of one statement; `rowCount` is the rows returned or changed (0 for DDL). */
export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

/** Runs one SQL statement with `$1`-style parameters. */
export interface Queryable {
  query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** A database: queries, transactions, a health check, and close. */
export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /** Where the data lives, for messages and logs; a PostgreSQL URL appears with its password masked. */
  readonly description: string;
  /**
   * Runs `fn` in a transaction (READ COMMITTED): committed when `fn` resolves, rolled back when it
   * throws (its error is rethrown as is). Use only `tx` inside `fn`: `db.query` there would run
   * outside the transaction (on PGlite it would wait for the transaction forever), so it throws
   * STORE_NESTED_QUERY instead.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query (for `/readyz`); throws StoreError otherwise. */
  ping(): Promise<void>;
  /**
   * Calls `onNotify(payload)` for every notification on `channel` (sent with `SELECT pg_notify($1,
   * $2)`, delivered when the sending transaction commits, on any handle of the same database).
   * Resolves once listening, with a function that stops it. Notifications sent while a PostgreSQL
   * listener reconnects are lost: listeners poll as a safety net. Closing the database stops all.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Closes connections (waiting for running statements); later calls throw STORE_CLOSED. Idempotent. */
  close(): Promise<void>;
}

/** Options of openDatabase. */
export interface OpenDatabaseOptions {
  /** `postgres://…` to use PostgreSQL; absent to use the embedded database under `dataDir`. */
  readonly url?: string;
  /** The gateway's data directory; the embedded database lives in `<dataDir>/pglite`. */
  readonly dataDir: string;
  readonly logger?: Logger;
  /** PostgreSQL only: connections per gateway process (default 10). */
  readonly poolSize?: number;
  /** PostgreSQL only: statement timeout in milliseconds (default 30 000; 0 disables it). */
  readonly statementTimeoutMs?: number;
  /** PostgreSQL only: how long to wait for a connection in milliseconds (default 10 000). */
  readonly connectTimeoutMs?: number;
}

/** What a backend provides; Database adds parameter normalisation, error mapping and guards. */
export interface Driver {
  readonly kind: DatabaseKind;
  readonly description: string;
  /** Removes secrets (the URL's password) from driver messages. */
  scrub(text: string): string;
  query(sql: string, params: unknown[]): Promise<{ rows: unknown[]; rowCount: number }>;
  /** BEGIN, `fn`, COMMIT (or ROLLBACK when `fn` throws); COMMIT of an aborted transaction throws. */
  transaction<T>(fn: (query: Driver['query']) => Promise<T>): Promise<T>;
  /** Subscribes to a notification channel (see Database.listen). */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// Which database's transaction the current async context is inside; used to refuse `db.query`
// inside `db.transaction`, which on PGlite would deadlock and on PostgreSQL would silently run
// outside the transaction.
const insideTransaction = new AsyncLocalStorage<Database>();

type State = { readonly kind: 'open' } | { readonly kind: 'closing'; readonly done: Promise<void> } | { readonly kind: 'closed' };

function normaliseParams(params: readonly unknown[] | undefined): unknown[] {
  if (params === undefined) return [];
  return params.map((p, i) => {
    if (p instanceof Date && Number.isNaN(p.getTime())) {
      throw new StoreError('STORE_BAD_VALUE', `query parameter $${i + 1} is an invalid Date`, { param: i + 1 });
    }
    return normaliseParam(p);
  });
}

/** Wraps a Driver into a Database. Exported for the backends, not for other packages. */
export class DriverDatabase implements Database {
  readonly kind: DatabaseKind;
  readonly description: string;
  #state: State = { kind: 'open' };

  constructor(
    private readonly driver: Driver,
    private readonly logger: Logger = silentLogger,
  ) {
    this.kind = driver.kind;
    this.description = driver.description;
  }

  #assertUsable(what: string): void {
    if (this.#state.kind !== 'open') {
      throw new StoreError('STORE_CLOSED', `${what} on ${this.description} after it was closed`, {
        database: this.description,
      });
    }
    if (insideTransaction.getStore() === this) {
      throw new StoreError(
        'STORE_NESTED_QUERY',
        `${what} called inside a transaction on ${this.description}; use the transaction's query instead`,
        { database: this.description },
      );
    }
  }

  async #run(query: Driver['query'], sql: string, params: readonly unknown[] | undefined) {
    const values = normaliseParams(params);
    try {
      return await query(sql, values);
    } catch (e) {
      throw toStoreError(e, sql, this.description, (s) => this.driver.scrub(s));
    }
  }

  async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.#assertUsable('query');
    const r = await this.#run((s, p) => this.driver.query(s, p), sql, params);
    // The driver returns untyped rows; R is the caller's statement of what its SQL selects.
    return { rows: r.rows as R[], rowCount: r.rowCount };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.#assertUsable('transaction');
    // Errors of `fn` pass through untouched; only BEGIN/COMMIT/ROLLBACK failures are mapped.
    let fnError: { readonly error: unknown } | undefined;
    try {
      return await this.driver.transaction(async (raw) => {
        let open = true;
        const tx: Queryable = {
          query: async <R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
            if (!open) {
              throw new StoreError('STORE_TX_CLOSED', `query on a transaction that has ended: "${sql.trim().split('\n', 1)[0]}"`, {
                database: this.description,
              });
            }
            const r = await this.#run(raw, sql, params);
            return { rows: r.rows as R[], rowCount: r.rowCount };
          },
        };
        try {
          return await insideTransaction.run(this, () => fn(tx));
        } catch (error) {
          fnError = { error };
          throw error;
        } finally {
          open = false;
        }
      });
    } catch (e) {
      if (fnError !== undefined && e === fnError.error) throw e;
      // Getting a connection, BEGIN, COMMIT or ROLLBACK failed.
      throw toStoreError(e, 'BEGIN … COMMIT', this.description, (s) => this.driver.scrub(s));
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    this.#assertUsable('listen');
    if (channel === '') throw new StoreError('STORE_BAD_VALUE', 'a notification channel needs a name', { channel });
    try {
      const stop = await this.driver.listen(channel, onNotify);
      let stopped = false;
      return async () => {
        if (stopped || this.#state.kind === 'closed') return;
        stopped = true;
        await stop();
      };
    } catch (e) {
      throw toStoreError(e, `LISTEN ${channel}`, this.description, (s) => this.driver.scrub(s));
    }
  }

  async close(): Promise<void> {
    switch (this.#state.kind) {
      case 'closed':
        return;
      case 'closing':
        return this.#state.done;
      case 'open': {
        const done = this.driver.close().then(
          () => {
            this.#state = { kind: 'closed' };
            this.logger.info('database closed', { database: this.description });
          },
          (e: unknown) => {
            this.#state = { kind: 'closed' };
            throw toStoreError(e, 'close', this.description, (s) => this.driver.scrub(s));
          },
        );
        this.#state = { kind: 'closing', done };
        return done;
      }
    }
  }
}
