-- Cross-tenant reads of the auth service. A person may belong to several tenants, and
-- the tenant switcher and sign-in need that list before any tenant context exists.
-- Narrow on purpose: one user's own memberships, nothing else.
CREATE OR REPLACE FUNCTION perseus_sys.auth_user_tenants(p_user_id uuid)
RETURNS TABLE (tenant_id uuid, name text, role text, disabled boolean, joined_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT m.tenant_id, t.name, m.role, m.disabled_at IS NOT NULL, m.created_at
  FROM memberships m JOIN tenants t ON t.tenant_id = m.tenant_id
  WHERE m.user_id = p_user_id AND t.status = 'active'
  ORDER BY m.created_at, m.tenant_id
$$;
