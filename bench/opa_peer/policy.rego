# Behalf's verifier decision for an Envoy ext_authz Check, written as an OPA policy.
#
# input: the CheckRequest as opa-envoy-plugin shapes it (protojson, proto field names), plus
# `authorization`, the Check call's own gRPC metadata (`Bearer <API key>`).
# data: {"keys": {sha256(key): tenant}, "agents": {agent_id: {"tenant", "status", "grants"}}},
# each grant {"permission_id", "actions", "resources", "max_amount_minor", "currency",
# "not_before_ns", "expires_at_ns"}.
#
# Mapped as services/verifier/behalf/verifier/ext_authz.py maps a Check: route-level
# context_extensions win over request headers; the resource falls back to the request host.
package behalf.authz

http := input.attributes.request.http

headers := object.get(http, "headers", {})

extensions := object.get(input.attributes, "context_extensions", {})

# --- the caller: a known API key -------------------------------------------------------------

token := trim_space(substring(input.authorization, 7, -1)) if {
	lower(substring(input.authorization, 0, 7)) == "bearer "
}

tenant := data.keys[crypto.sha256(token)]

# --- the request -----------------------------------------------------------------------------

pick(extension, header) := value if {
	value := extensions[extension]
	value != ""
} else := headers[header]

agent_id := pick("agent_id", "x-behalf-agent-id")

action := pick("action", "x-behalf-action")

resource := value if {
	value := pick("resource", "x-behalf-resource")
	value != ""
} else := regex.replace(object.get(http, "host", ""), `:[0-9]+$`, "")

amount_given if headers["x-behalf-amount-minor"]

amount_given if headers["x-behalf-currency"]

amount_minor := to_number(headers["x-behalf-amount-minor"]) if {
	regex.match(`^[0-9]+$`, headers["x-behalf-amount-minor"])
}

currency := object.get(headers, "x-behalf-currency", "")

well_formed if {
	agent_id != ""
	action != ""
	amount_well_formed
}

amount_well_formed if not amount_given

amount_well_formed if amount_minor

# --- the permission --------------------------------------------------------------------------

permits contains grant.permission_id if {
	agent := data.agents[agent_id]
	agent.tenant == tenant
	agent.status == "active"
	some grant in agent.grants
	action in grant.actions
	resource in grant.resources
	now := time.now_ns()
	now >= grant.not_before_ns
	now < grant.expires_at_ns
	amount_within(grant)
}

# A limit makes an amount required, in the limit's currency, at most the limit.
amount_within(grant) if not grant.max_amount_minor

amount_within(grant) if {
	amount_minor <= grant.max_amount_minor
	currency == grant.currency
}

# --- the decision ----------------------------------------------------------------------------

decision := {"allow": false, "http_status": 401, "reason_code": "UNAUTHENTICATED"} if {
	not tenant
} else := {"allow": false, "http_status": 400, "reason_code": "INVALID_ARGUMENT"} if {
	not well_formed
} else := {"allow": true, "http_status": 200, "reason_code": "ALLOW", "permission_id": min(permits)} if {
	count(permits) > 0
} else := {"allow": false, "http_status": 403, "reason_code": "NO_PERMISSION"}
