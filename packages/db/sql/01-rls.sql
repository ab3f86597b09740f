-- Row-level security for every tenant table: enabled AND forced (so the table owner is
-- bound too), one policy keyed on the transaction's tenant context. Applied after each
-- migration run, so a new table with a tenant_id column is covered without a step to
-- forget; the RLS guard test still checks every table independently.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT c.oid, c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      AND EXISTS (
        SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      )
      -- refresh_tokens carries an optional tenant hint, it is not tenant-owned.
      AND c.relname NOT IN ('refresh_tokens')
  LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t.relname);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t.relname);
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = 'tenant_isolation') THEN
      EXECUTE format(
        'CREATE POLICY tenant_isolation ON public.%I AS PERMISSIVE FOR ALL '
        'USING (tenant_id = perseus_current_tenant()) '
        'WITH CHECK (tenant_id = perseus_current_tenant())',
        t.relname
      );
    END IF;
  END LOOP;
END
$$;
