-- The application role reads and writes data but owns nothing, so RLS binds it.
-- (USAGE on schema public is granted to PUBLIC by default.)
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO perseus_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO perseus_app;
-- The audit trail is append-only for the application.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM perseus_app;

-- Cross-tenant functions run as perseus_system; only the app role may call them.
GRANT USAGE, CREATE ON SCHEMA perseus_sys TO perseus_system;
GRANT USAGE ON SCHEMA perseus_sys TO perseus_app;
GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO perseus_system;
DO $$
DECLARE
  f record;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS signature FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'perseus_sys'
  LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO perseus_system', f.signature);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.signature);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO perseus_app', f.signature);
  END LOOP;
END
$$;
