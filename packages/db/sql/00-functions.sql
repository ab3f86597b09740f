-- The tenant of the current transaction, or NULL when none is set (then RLS shows
-- nothing). set_config(..., true) scopes it to the transaction, so a pooled
-- connection never carries one tenant's context into the next transaction.
CREATE OR REPLACE FUNCTION perseus_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT nullif(current_setting('app.tenant_id', true), '')::uuid
$$;

-- ---- audit hash chain ------------------------------------------------------
CREATE OR REPLACE FUNCTION perseus_audit_hash(e audit_events) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws('|',
    e.prev_hash, e.seq::text, e.tenant_id::text, e.actor_type, coalesce(e.actor_id::text, ''),
    e.action, coalesce(e.target_type, ''), coalesce(e.target_id, ''), coalesce(e.ip, ''),
    coalesce(e.request_id, ''), e.data::text,
    to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
  ), 'UTF8')), 'hex')
$$;

CREATE OR REPLACE FUNCTION perseus_audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last_seq bigint;
  last_hash text;
BEGIN
  -- One writer per tenant chain at a time; other tenants are not blocked.
  PERFORM pg_advisory_xact_lock(hashtextextended('perseus.audit:' || NEW.tenant_id::text, 0));
  SELECT seq, hash INTO last_seq, last_hash
  FROM audit_events WHERE tenant_id = NEW.tenant_id ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(last_seq, 0) + 1;
  NEW.prev_hash := coalesce(last_hash, repeat('0', 64));
  NEW.occurred_at := date_trunc('microseconds', clock_timestamp());
  NEW.hash := perseus_audit_hash(NEW);
  RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS audit_events_chain ON audit_events;
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION perseus_audit_chain();

-- Rows of the current tenant's chain that do not verify (empty result = intact).
CREATE OR REPLACE FUNCTION perseus_audit_verify() RETURNS TABLE (seq bigint, problem text)
LANGUAGE sql STABLE AS $$
  SELECT v.seq, v.problem FROM (
    SELECT e.seq,
      CASE
        WHEN e.hash <> perseus_audit_hash(e) THEN 'hash mismatch'
        WHEN e.prev_hash <> coalesce(lag(e.hash) OVER w, repeat('0', 64)) THEN 'broken link'
        WHEN e.seq <> row_number() OVER w THEN 'missing row'
      END AS problem
    FROM audit_events e
    WINDOW w AS (PARTITION BY e.tenant_id ORDER BY e.seq)
  ) v
  WHERE v.problem IS NOT NULL
  ORDER BY v.seq
$$;

-- ---- outbox relay ------------------------------------------------------------
-- The relay serves every tenant, so it reads through these two narrow functions owned
-- by perseus_system (BYPASSRLS, NOLOGIN) instead of connecting as a bypassing role.
-- They live in their own schema, the only one perseus_system may create in.
CREATE SCHEMA IF NOT EXISTS perseus_sys;

CREATE OR REPLACE FUNCTION perseus_sys.outbox_claim(max_rows integer)
RETURNS TABLE (id bigint, tenant_id uuid, topic text, envelope jsonb)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT o.id, o.tenant_id, o.topic, o.envelope FROM outbox o
  ORDER BY o.id LIMIT max_rows FOR UPDATE SKIP LOCKED
$$;

CREATE OR REPLACE FUNCTION perseus_sys.outbox_delete(ids bigint[]) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH d AS (DELETE FROM outbox WHERE id = ANY(ids) RETURNING 1) SELECT count(*)::integer FROM d
$$;

CREATE OR REPLACE FUNCTION perseus_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('perseus_outbox', '');
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION perseus_outbox_notify();
