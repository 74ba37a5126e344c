/** Chooses the backend from the configuration: `database.url` set → PostgreSQL, else embedded PGlite. */
import type { Database, OpenDatabaseOptions } from './database';
import { openPglite } from './pglite';
import { openPostgres } from './postgres';

/**
 * Opens the gateway's database: PostgreSQL when `url` is given (the connection is checked before
 * this resolves), otherwise the embedded database in `<dataDir>/pglite`, created as needed.
 * It does not migrate: call `migrate(db)` next.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.url !== undefined && options.url !== '') {
    return openPostgres(options.url, {
      logger: options.logger,
      poolSize: options.poolSize,
      statementTimeoutMs: options.statementTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  }
  return openPglite(options.dataDir, options.logger);
}
