"""The OpenAPI 3.1 document of the verifier's HTTP API (http_api.py), served at /openapi.json.

A copy lives in docs/openapi.json for people and tools that read the repository (paste it into
a ChatGPT custom GPT Action); a test keeps the two equal and validates the document.
"""

from __future__ import annotations

from typing import Any

from behalf.common.ids import REQUEST_ID
from behalf.v1 import common_pb2, resources_pb2

_STRING = {"type": "string"}
# From the contract's enums, so a new reason code appears here by itself.
_OUTCOMES = [
    name.removeprefix("OUTCOME_")
    for name in common_pb2.Outcome.keys()
    if name != "OUTCOME_UNSPECIFIED"
]
_REASON_CODES = [
    name.removeprefix("REASON_CODE_")
    for name in common_pb2.ReasonCode.keys()
    if name != "REASON_CODE_UNSPECIFIED"
]


_APPROVAL_STATES = [
    name.removeprefix("APPROVAL_STATE_")
    for name in resources_pb2.ApprovalState.keys()
    if name != "APPROVAL_STATE_UNSPECIFIED"
]
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Behalf Verify",
        "version": "1.0.0",
        "description": (
            "Ask Behalf whether an AI agent may take an action before it acts. Call verifyAction "
            "before every action; act only when `allowed` is true. Anything else (a deny, an "
            "approval to wait for, an error) means do not act."
        ),
    },
    "servers": [{"url": "/", "description": "the verifier's HTTP port (BEHALF_HTTP_PORT)"}],
    "security": [{"apiKey": []}],
    "paths": {
        "/v1/verify": {
            "post": {
                "operationId": "verifyAction",
                "summary": "Check that the agent may take this action now",
                "description": (
                    "Decides from the agent's passport (its permissions) whether `agentId` may "
                    "do `action` on `resource`, for `amount` if given, and records the decision "
                    "before answering. Every decision is a 200: act only if `allowed` is true. "
                    "`REQUIRE_APPROVAL` returns an `approvalId`: once a human approves it, send "
                    "the same request again with that `approvalId`."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/VerifyRequest"},
                            "example": {
                                "agentId": "agt_0123456789abcdefghij",
                                "action": "purchase",
                                "vendor": "coachella.com",
                                "amount": 799.99,
                                "currency": "USD",
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "A decision. Act only when `allowed` is true.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Decision"}
                            }
                        },
                    },
                    "400": _error_response("The request is malformed; `field` names the field."),
                    "401": _error_response("The API key is missing, malformed or unknown."),
                    "403": _error_response("The key may not verify (role) or not this agent."),
                    "413": _error_response("The body is larger than 64 KiB."),
                    "415": _error_response("The body is not application/json."),
                    "429": _error_response(
                        "The tenant has too many calls in flight here; retry after a backoff."
                    ),
                },
            }
        },
        "/v1/approvals/{approvalId}": {
            "get": {
                "operationId": "getApproval",
                "summary": "Read an approval, to wait for a human's answer",
                "description": (
                    "After verifyAction answered REQUIRE_APPROVAL, poll this with its "
                    "`approvalId` until `state` leaves PENDING; once APPROVED, send the same "
                    "verifyAction again with that `approvalId`. DENIED, EXPIRED and CONSUMED "
                    "are final: do not act."
                ),
                "parameters": [
                    {
                        "name": "approvalId",
                        "in": "path",
                        "required": True,
                        "schema": {**_STRING, "pattern": "^apr_[a-z0-9]+$"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The approval.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Approval"}
                            }
                        },
                    },
                    "400": _error_response("The approval id is malformed."),
                    "401": _error_response("The API key is missing, malformed or unknown."),
                    "403": _error_response("The key's role may not read approvals."),
                    "404": _error_response("No such approval in the key's tenant."),
                    "503": _error_response("The registry did not answer; retry."),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Behalf API key with the verify (or admin) role.",
            }
        },
        "schemas": {
            "VerifyRequest": {
                "type": "object",
                "additionalProperties": False,
                "required": ["agentId", "action"],
                "properties": {
                    "agentId": {**_STRING, "description": "The agent's id (agt_…)."},
                    "action": {
                        **_STRING,
                        "description": "What the agent is about to do, lower_snake_case.",
                        "examples": ["purchase", "read_email", "send_email"],
                    },
                    "resource": {
                        **_STRING,
                        "description": "Where: a host, vendor or URL (its host is used).",
                    },
                    "vendor": {**_STRING, "description": "An alias of `resource`."},
                    "amount": {
                        "oneOf": [
                            {"type": "number", "minimum": 0},
                            {**_STRING, "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"},
                        ],
                        "description": (
                            "In major units (799.99 USD, or the plain decimal string "
                            '"799.99"), converted exactly to minor units; more '
                            "decimals than the currency has, as written, is an error "
                            '("1.000" JPY, which other readers take for 1,000).'
                        ),
                    },
                    "amountMinor": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "The amount in minor units (79999 for 799.99 USD).",
                    },
                    "currency": {
                        **_STRING,
                        "pattern": "^[A-Z]{3}$",
                        "description": "ISO-4217, required with an amount.",
                    },
                    "approvalId": {**_STRING, "description": "An approved approval (apr_…)."},
                    "requestId": {
                        **_STRING,
                        "pattern": f"^{REQUEST_ID.pattern}$",
                        "description": "Your id for this request; a retry reuses it.",
                    },
                    "minRevision": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Decide from at least this policy revision.",
                    },
                    "context": {
                        "type": "object",
                        "additionalProperties": _STRING,
                        "description": "Up to 32 string pairs recorded with the decision.",
                    },
                    "testMode": {
                        "type": "boolean",
                        "description": "Decide without consuming budgets or approvals.",
                    },
                },
            },
            "Decision": {
                "type": "object",
                "required": [
                    "requestId",
                    "allowed",
                    "outcome",
                    "reasonCode",
                    "reason",
                    "risk",
                    "policyRevision",
                ],
                "properties": {
                    "requestId": _STRING,
                    "allowed": {
                        "type": "boolean",
                        "description": (
                            "True only for an ALLOW that is not a test: the only answer to act on."
                        ),
                    },
                    "outcome": {"type": "string", "enum": _OUTCOMES},
                    "reasonCode": {"type": "string", "enum": _REASON_CODES},
                    "reason": {**_STRING, "description": "Why, for a person."},
                    "risk": {"type": "string", "enum": ["low", "medium", "high"]},
                    "permissionId": {"type": ["string", "null"]},
                    "policyRevision": {"type": "integer"},
                    "approvalId": {
                        "type": ["string", "null"],
                        "description": "Set with REQUIRE_APPROVAL: the approval to wait for.",
                    },
                    "testMode": {"type": "boolean"},
                },
            },
            "Approval": {
                "type": "object",
                "required": ["approvalId", "state", "agentId", "action", "resource"],
                "properties": {
                    "approvalId": _STRING,
                    "state": {"type": "string", "enum": _APPROVAL_STATES},
                    "agentId": _STRING,
                    "action": _STRING,
                    "resource": _STRING,
                    "requestId": _STRING,
                    "permissionId": {"type": ["string", "null"]},
                    "amountMinor": {"type": ["integer", "null"]},
                    "currency": {"type": ["string", "null"]},
                    "createTime": _TIME,
                    "expireTime": _TIME,
                    "resolveTime": _TIME,
                    "consumeTime": _TIME,
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "allowed": {"type": "boolean", "const": False},
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": _STRING,
                            "message": _STRING,
                            "field": {**_STRING, "description": "The JSON field at fault."},
                        },
                    },
                },
            },
        },
    },
}
