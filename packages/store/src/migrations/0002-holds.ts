/**
 * Migration 2: held pushes. A hold's row carries its push (commands, capabilities, push options,
 * the pack's size and digest), why it is held, and where it is in its lifecycle; its pack lives
 * encrypted in `hold_pack_chunks`, its approvals in `hold_approvals`.
 *
 * The lifecycle is enforced twice in the database, whoever writes to it: a CHECK per state says
 * which columns a state has (a relaying hold has an owner and a lease; a final one a finish
 * time), and a BEFORE UPDATE trigger refuses any change of state the lifecycle does not have,
 * any change to a final hold, and any change to what an approval binds to (commands, pack,
 * digest):
 *
 *   pending → approved → relaying → relayed | stale | upstream-rejected
 *   pending → rejected | expired | cancelled
 *   relaying → approved (retry later), relaying → relaying (an expired lease reclaimed)
 *
 * Chunks are written before their hold row exists (outside any transaction, so a large pack never
 * holds a transaction open), hence no foreign key from chunks to holds; chunks left without a row
 * (a crash between the two) are swept by the hold store.
 */
import type { Migration } from '../migrate';

const STATES = `'pending', 'approved', 'relaying', 'relayed', 'stale', 'upstream-rejected', 'rejected', 'expired', 'cancelled'`;

/** Creates holds, hold_pack_chunks, hold_approvals, their indexes and the lifecycle trigger. */
export const holds: Migration = {
  version: 2,
  name: 'holds',
  statements: [
    `CREATE TABLE holds (
  id text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
  push_id text NOT NULL CHECK (push_id <> ''),
  state text NOT NULL CHECK (state IN (${STATES})),
  upstream text NOT NULL CHECK (upstream <> ''),
  repo text NOT NULL CHECK (repo <> ''),
  pusher_sub text NOT NULL CHECK (pusher_sub <> ''),
  pusher_issuer text NOT NULL CHECK (pusher_issuer <> ''),
  pusher_email text,
  pusher_groups text[] NOT NULL,
  pusher_agent boolean NOT NULL,
  commands jsonb NOT NULL CHECK (jsonb_typeof(commands) = 'array' AND jsonb_array_length(commands) > 0),
  capabilities text[] NOT NULL,
  push_options text[] NOT NULL,
  pack_bytes bigint CHECK (pack_bytes >= 0),
  pack_sha256 text CHECK (pack_sha256 ~ '^[0-9a-f]{64}$'),
  pack_chunks integer CHECK (pack_chunks >= 1),
  pack_key_id text CHECK (pack_key_id ~ '^[0-9a-f]{16}$'),
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  summary jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'object'),
  decision jsonb NOT NULL CHECK (jsonb_typeof(decision) = 'object'),
  approvers jsonb NOT NULL CHECK (jsonb_typeof(approvers) = 'array'),
  expires_at timestamptz NOT NULL,
  approved_at timestamptz,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz,
  relay_owner text CHECK (relay_owner <> ''),
  lease_until timestamptz,
  last_error text,
  finished_at timestamptz,
  outcome jsonb CHECK (jsonb_typeof(outcome) = 'object'),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  -- A pack is all there or absent (a push that only deletes refs has none).
  CONSTRAINT holds_pack_whole CHECK (
    (pack_bytes IS NULL) = (pack_sha256 IS NULL)
    AND (pack_bytes IS NULL) = (pack_chunks IS NULL)
    AND (pack_bytes IS NULL) = (pack_key_id IS NULL)
  ),
  -- Each state has exactly the columns it needs.
  CONSTRAINT holds_state_columns CHECK (CASE state
    WHEN 'pending' THEN approved_at IS NULL AND next_attempt_at IS NULL AND relay_owner IS NULL
      AND lease_until IS NULL AND finished_at IS NULL AND outcome IS NULL
    WHEN 'approved' THEN approved_at IS NOT NULL AND next_attempt_at IS NOT NULL AND relay_owner IS NULL
      AND lease_until IS NULL AND finished_at IS NULL AND outcome IS NULL
    WHEN 'relaying' THEN approved_at IS NOT NULL AND relay_owner IS NOT NULL AND lease_until IS NOT NULL
      AND attempts >= 1 AND finished_at IS NULL AND outcome IS NULL
    WHEN 'relayed' THEN approved_at IS NOT NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL AND outcome IS NOT NULL
    WHEN 'stale' THEN approved_at IS NOT NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL AND outcome IS NOT NULL
    WHEN 'upstream-rejected' THEN approved_at IS NOT NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL AND outcome IS NOT NULL
    WHEN 'rejected' THEN approved_at IS NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL AND outcome IS NOT NULL
    WHEN 'expired' THEN approved_at IS NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL
    WHEN 'cancelled' THEN approved_at IS NULL AND relay_owner IS NULL AND lease_until IS NULL
      AND finished_at IS NOT NULL AND outcome IS NOT NULL
    ELSE false
  END)
)`,
    `COMMENT ON TABLE holds IS 'pushgate held pushes: one row per hold, its state enforced by holds_state_columns and holds_lifecycle'`,
    // The store's queries: due relays and expired leases, due expiries, a pusher's holds, newest first.
    `CREATE INDEX holds_due_relay ON holds (state, next_attempt_at)`,
    `CREATE INDEX holds_lease ON holds (state, lease_until)`,
    `CREATE INDEX holds_due_expiry ON holds (state, expires_at)`,
    `CREATE INDEX holds_pusher ON holds (pusher_sub, pusher_issuer, created_at)`,
    `CREATE INDEX holds_created ON holds (created_at, id)`,
    `CREATE INDEX holds_push ON holds (push_id)`,
    `CREATE FUNCTION holds_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state IN ('relayed', 'stale', 'upstream-rejected', 'rejected', 'expired', 'cancelled') THEN
    RAISE EXCEPTION 'hold %: % is final and cannot change', OLD.id, OLD.state USING ERRCODE = 'PGH01';
  END IF;
  IF NEW.id IS DISTINCT FROM OLD.id OR NEW.push_id IS DISTINCT FROM OLD.push_id
    OR NEW.upstream IS DISTINCT FROM OLD.upstream OR NEW.repo IS DISTINCT FROM OLD.repo
    OR NEW.commands IS DISTINCT FROM OLD.commands OR NEW.digest IS DISTINCT FROM OLD.digest
    OR NEW.pack_sha256 IS DISTINCT FROM OLD.pack_sha256 OR NEW.pack_bytes IS DISTINCT FROM OLD.pack_bytes
    OR NEW.pack_chunks IS DISTINCT FROM OLD.pack_chunks OR NEW.pack_key_id IS DISTINCT FROM OLD.pack_key_id
    OR NEW.pusher_sub IS DISTINCT FROM OLD.pusher_sub OR NEW.pusher_issuer IS DISTINCT FROM OLD.pusher_issuer
    OR NEW.approvers IS DISTINCT FROM OLD.approvers OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
    RAISE EXCEPTION 'hold %: what a hold is (its push, pusher, approvers) cannot change', OLD.id USING ERRCODE = 'PGH01';
  END IF;
  IF NEW.state = OLD.state AND NEW.state IN ('pending', 'relaying') THEN
    RETURN NEW;
  END IF;
  IF (OLD.state, NEW.state) IN (
    ('pending', 'approved'), ('pending', 'rejected'), ('pending', 'expired'), ('pending', 'cancelled'),
    ('approved', 'relaying'), ('relaying', 'approved'),
    ('relaying', 'relayed'), ('relaying', 'stale'), ('relaying', 'upstream-rejected')
  ) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'hold %: % → % is not a transition of the hold lifecycle', OLD.id, OLD.state, NEW.state USING ERRCODE = 'PGH01';
END
$$`,
    `CREATE TRIGGER holds_lifecycle BEFORE UPDATE ON holds FOR EACH ROW EXECUTE FUNCTION holds_check_transition()`,
    // Ciphertext only: AES-256-GCM, `data` = ciphertext followed by the 16-byte tag.
    `CREATE TABLE hold_pack_chunks (
  hold_id text NOT NULL,
  seq integer NOT NULL CHECK (seq >= 0),
  nonce bytea NOT NULL CHECK (length(nonce) = 12),
  data bytea NOT NULL CHECK (length(data) >= 16),
  created_at timestamptz NOT NULL,
  PRIMARY KEY (hold_id, seq)
)`,
    `CREATE INDEX hold_pack_chunks_created ON hold_pack_chunks (created_at)`,
    `CREATE TABLE hold_approvals (
  hold_id text NOT NULL REFERENCES holds (id),
  approver_sub text NOT NULL CHECK (approver_sub <> ''),
  approver_issuer text NOT NULL CHECK (approver_issuer <> ''),
  approver_email text,
  approver_groups text[] NOT NULL,
  approver_agent boolean NOT NULL,
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  comment text,
  approved_at timestamptz NOT NULL,
  UNIQUE (hold_id, approver_sub, approver_issuer)
)`,
  ],
};
