-- Counts for the services' Prometheus metrics. They cross tenants, so like the relay's
-- functions they run as perseus_system (ownership and grants in 99-grants.sql) and
-- return aggregates only: no id, no tenant, no content leaves them.

-- Outbox rows not relayed yet and the age of the oldest, for each topic asked about
-- (a topic without rows reports 0, so its series exists before the first backlog).
CREATE OR REPLACE FUNCTION perseus_sys.outbox_backlog(topics text[])
RETURNS TABLE (topic text, backlog bigint, oldest_age_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.topic, count(o.id),
    coalesce(extract(epoch FROM now() - min(o.created_at)), 0)::double precision
  FROM unnest(topics) AS t(topic)
  LEFT JOIN outbox o ON o.topic = t.topic
  GROUP BY t.topic
$$;

-- Dispatch tasks that are not finished, and the dead-lettered ones, by state. Terminal
-- states are left out: they only grow and the indexes on status keep these counts cheap.
CREATE OR REPLACE FUNCTION perseus_sys.dispatch_task_counts()
RETURNS TABLE (status text, tasks bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT s.status, count(t.id)
  FROM unnest(ARRAY['queued', 'offered', 'running', 'dead']) AS s(status)
  LEFT JOIN tasks t ON t.status = s.status
  GROUP BY s.status
$$;
