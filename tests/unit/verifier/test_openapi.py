"""The HTTP API's OpenAPI document is valid OpenAPI 3.1, and docs/openapi.json is the one
the verifier serves."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from behalf.verifier.openapi import OPENAPI

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_the_document_is_valid_openapi_3_1():
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


def test_docs_copy_is_the_served_document():
    assert json.loads(DOC.read_text()) == OPENAPI, (
        "docs/openapi.json is stale: regenerate it from behalf.verifier.openapi.OPENAPI"
    )


def test_every_operation_has_an_id_and_a_description_for_gpt_actions():
    for path, methods in OPENAPI["paths"].items():
        for method, operation in methods.items():
            assert operation.get("operationId"), (path, method)
            assert len(operation.get("description", "")) > 40, (path, method)
    assert OPENAPI["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
