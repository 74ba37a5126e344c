/**
 * Every migration, in order. Migrations are TypeScript modules rather than .sql files so the
 * bundled CLI carries them. An applied migration is never edited (its checksum is recorded and
 * checked at start-up); a change is a new migration appended here.
 */
import type { Migration } from '../migrate';
import { auditEvents } from './0001-audit-events';
import { holds } from './0002-holds';

/** The schema this code expects, oldest first; versions are 1..N. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([auditEvents, holds]);
