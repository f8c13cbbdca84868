-- A request id names one request of one agent. Kept per tenant, an agent could take another
-- agent's ids before it (REQUEST_ID_REUSED for the other agent's real request) and learn which
-- ids other agents had used. Ids claimed before this migration are given the agent whose
-- reservation or approval they made; the rest keep agent_id '', which every agent's claim
-- still meets (fail closed: such an id stays taken, as before).
ALTER TABLE request_ids ADD COLUMN agent_id text NOT NULL DEFAULT '';
UPDATE request_ids AS r SET agent_id = a.agent_id
    FROM approvals AS a
    WHERE a.tenant_id = r.tenant_id AND a.request_id = r.request_id;
UPDATE request_ids AS r SET agent_id = p.agent_id
    FROM budget_reservations AS b JOIN permissions AS p ON p.permission_id = b.permission_id
    WHERE r.agent_id = '' AND p.tenant_id = r.tenant_id AND b.request_id = r.request_id;
ALTER TABLE request_ids DROP CONSTRAINT request_ids_pkey;
ALTER TABLE request_ids ADD PRIMARY KEY (tenant_id, agent_id, request_id);

ALTER TABLE approvals DROP CONSTRAINT approvals_tenant_id_request_id_key;
ALTER TABLE approvals ADD CONSTRAINT approvals_tenant_agent_request_key
    UNIQUE (tenant_id, agent_id, request_id);
