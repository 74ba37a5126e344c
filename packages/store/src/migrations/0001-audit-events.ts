/**
 * Migration 1: the audit event table. Every HTTP request the gateway serves becomes one row;
 * later event kinds (push.inspected, push.verdict, hold.*, relay.*) share the table.
 *
 * Append-only at the database level: statement triggers refuse UPDATE, DELETE and TRUNCATE even
 * when they would touch no row, so an attempt is an error, not a silent no-op. A table owner can
 * still drop the trigger; the keyed hash chain (a later migration) makes that detectable.
 *
 * `id` is the total order of events. Identity values are not gap-free (a rolled-back insert
 * consumes one) and concurrent inserts on PostgreSQL may commit out of id order, so the hash
 * chain must link each row to its predecessor under a lock, not by assuming max(id) is final.
 */
import type { Migration } from '../migrate';

/** Creates audit_events, its indexes and its append-only triggers. */
export const auditEvents: Migration = {
  version: 1,
  name: 'audit events',
  statements: [
    `CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'PGA01';
END
$$`,
    `CREATE TABLE audit_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  request_id text NOT NULL,
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$'),
  actor_sub text,
  actor_issuer text,
  actor_email text,
  actor_groups text[],
  actor_agent boolean,
  client_addr text,
  user_agent text,
  upstream text,
  repo text,
  service text,
  ref_updates jsonb CHECK (jsonb_typeof(ref_updates) = 'array'),
  http_status integer CHECK (http_status BETWEEN 100 AND 599),
  bytes_in bigint CHECK (bytes_in >= 0),
  bytes_out bigint CHECK (bytes_out >= 0),
  duration_ms double precision CHECK (duration_ms >= 0),
  outcome text,
  detail jsonb CHECK (jsonb_typeof(detail) = 'object'),
  -- An actor is all there (authenticated) or all absent (not): never half an identity.
  CONSTRAINT audit_events_actor_whole CHECK (
    (actor_sub IS NULL) = (actor_issuer IS NULL)
    AND (actor_sub IS NULL) = (actor_groups IS NULL)
    AND (actor_sub IS NULL) = (actor_agent IS NULL)
    AND (actor_sub IS NOT NULL OR actor_email IS NULL)
  )
)`,
    `COMMENT ON TABLE audit_events IS 'pushgate audit record: append-only, one row per event, ordered by id'`,
    // The queries auditors run: by actor, by repository, by outcome, one request's timeline, by
    // kind, each newest-first or paged by id; and time ranges.
    `CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at)`,
    `CREATE INDEX audit_events_actor ON audit_events (actor_sub, id)`,
    `CREATE INDEX audit_events_repo ON audit_events (repo, id)`,
    `CREATE INDEX audit_events_outcome ON audit_events (outcome, id)`,
    `CREATE INDEX audit_events_request ON audit_events (request_id, id)`,
    `CREATE INDEX audit_events_kind ON audit_events (kind, id)`,
    `CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change()`,
    `CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change()`,
  ],
};
