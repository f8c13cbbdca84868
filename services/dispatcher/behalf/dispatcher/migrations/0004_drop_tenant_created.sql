-- deliveries_tenant_created_id (tenant_id, created_at DESC, delivery_id DESC) serves every query
-- the older (tenant_id, created_at DESC) index did; one index fewer to maintain per delivery.
DROP INDEX IF EXISTS deliveries_tenant_created;
