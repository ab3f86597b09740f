-- Cross-tenant reads of the dispatch service. The app role sees one tenant at a time, so
-- the lease sweeper and the reconciler find work through these narrow, read-only
-- functions (owned by perseus_system by 99-grants.sql) and then change each task inside
-- a tenant transaction, where row-level security, the audit trail and the outbox apply.

-- Robots with an offer or a lease that has run out by the database clock.
CREATE OR REPLACE FUNCTION perseus_sys.dispatch_expired_robots(max_rows integer)
RETURNS TABLE (tenant_id uuid, robot_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT DISTINCT t.tenant_id, t.robot_id FROM (
    SELECT tenant_id, robot_id FROM tasks WHERE status = 'running' AND lease_expires_at <= now()
    UNION ALL
    SELECT tenant_id, robot_id FROM tasks WHERE status = 'offered' AND offer_expires_at <= now()
  ) t
  LIMIT max_rows
$$;

-- Robots with queued tasks that are due and have no live offer: work a lost wake-up
-- (Redis restart, missed pub/sub message) would otherwise leave waiting.
CREATE OR REPLACE FUNCTION perseus_sys.dispatch_due_robots(max_rows integer)
RETURNS TABLE (tenant_id uuid, robot_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT DISTINCT tenant_id, robot_id FROM tasks
  WHERE status = 'queued' AND (not_before IS NULL OR not_before <= now())
  LIMIT max_rows
$$;

-- Live terminal sessions that have not ended, oldest first: the terminal sweep ends those
-- whose robot connection is gone (its dispatch replica died without closing them).
CREATE OR REPLACE FUNCTION perseus_sys.dispatch_unended_terminals(max_rows integer)
RETURNS TABLE (tenant_id uuid, id uuid, robot_id uuid, connection_id text, opened_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT tenant_id, id, robot_id, connection_id, opened_at FROM terminal_sessions
  WHERE status <> 'closed'
  ORDER BY opened_at
  LIMIT max_rows
$$;
