"""What the OpenAPI document says, read as a client author would: every operation's answers with
their models, ids as patterns, record bodies closed to what the API takes, the catalog's model,
API Gateway's own answers and the security scheme as deployed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from sfconnector import catalog
from sfconnector.api.meta import openapi_document

from tests.contract.conftest import ROOT, RULES_BEYOND_THE_SCHEMA

ERROR = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc = openapi_document()
    validate(doc)
    return doc


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


def _ref(response: dict[str, Any], media: str = "application/json") -> str:
    return str(response["content"][media]["schema"].get("$ref", ""))


def test_every_action_documents_its_success_with_the_output_model(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for action in catalog.ACTIONS:
        _, _, op = operations[action.key]
        statuses = {str(status) for status in action.success_statuses}
        for status in statuses:
            assert _ref(op["responses"][status]).endswith(f"/{action.output_model.__name__}"), action.key
        errors = set(op["responses"]) - statuses
        assert {"401", "403", "404", "413", "414", "422", "429", "500", "502", "503", "504"} <= errors
        assert all(_ref(op["responses"][s]) == ERROR for s in errors), action.key


def test_the_documents_and_connections_have_their_models(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert _ref(paths["/catalog"]["get"]["responses"]["200"]).endswith("/CatalogDocument")
    assert paths["/docs"]["get"]["responses"]["200"]["content"]["text/html"]["schema"] == {"type": "string"}
    # POST /connections: one request model per flow; a pending (web_server) or connected answer.
    create = paths["/connections"]["post"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["anyOf"]
    assert [r["$ref"].rsplit("/", 1)[-1] for r in created] == ["StartedAuthorization", "ConnectionView"]
    flows = create["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [r["$ref"].rsplit("/", 1)[-1] for r in flows] == [
        "CreateConnectionRequest",
        "JwtBearerConnectionRequest",
        "ClientCredentialsConnectionRequest",
    ]
    schemas = document["components"]["schemas"]
    assert schemas["JwtBearerConnectionRequest"]["properties"]["private_key"]["writeOnly"] is True
    assert "private_key" not in schemas["ConnectionView"]["properties"]
    assert _ref(paths["/connections/{connection_id}"]["get"]["responses"]["200"]).endswith("/ConnectionView")
    assert "422" not in paths["/catalog"]["get"]["responses"]  # nothing to validate
    assert "HTTPValidationError" not in str(document)  # Powertools' model: the API never sends it


@pytest.mark.parametrize(
    ("operation", "parameter", "good", "bad"),
    [
        ("accounts.get", "record_id", "001Hs08To00000VIEQ", "003Hs08To00001hIEA"),
        ("cases.add_comment", "record_id", "500Hs08To000088IEA", "0"),
        ("attachments.get_content", "record_id", "00PHs08To0000B2MEI", "001Hs08To00000VIEQ"),
        ("attachments.list_ids", "parent_id", "001Hs08To00000VIEQ", "001Hs08To00000VIE9"),
        ("custom_objects.get", "record_id", "a0IHs08To0000C2", "a0IHs08To0000C2ME"),
    ],
)
def test_ids_are_patterns_with_the_key_prefix(
    document: dict[str, Any], operation: str, parameter: str, good: str, bad: str
) -> None:
    _, _, op = _operations(document)[operation]
    schema = next(p["schema"] for p in op["parameters"] if p["name"] == parameter)
    assert re.match(schema["pattern"], good)
    assert not re.match(schema["pattern"], bad)
    assert schema["examples"]  # a record of the demo org


def test_record_bodies_take_field_names_and_scalars_only(document: dict[str, Any]) -> None:
    fields = document["components"]["schemas"]["RecordFields"]
    assert "patternProperties" not in fields
    assert re.match(fields["propertyNames"]["pattern"], "Amount__c")
    assert not re.match(fields["propertyNames"]["pattern"], "0")
    assert {v["type"] for v in fields["additionalProperties"]["anyOf"]} == {
        "string", "boolean", "integer", "number", "null",
    }  # fmt: skip
    criteria = document["components"]["schemas"]["FindInput"]["properties"]["criteria"]
    assert {v["type"] for v in criteria["additionalProperties"]["anyOf"]} == {
        "string", "boolean", "integer", "number", "null",
    }  # fmt: skip
    # The limits are documented: Salesforce's longest text field, its longest WHERE string, and
    # numbers the body parser takes.
    by_type = {v["type"]: v for v in fields["additionalProperties"]["anyOf"]}
    assert by_type["string"]["maxLength"] == 131_072
    assert by_type["integer"]["exclusiveMaximum"] == 1e30
    criterion = {v["type"]: v for v in criteria["additionalProperties"]["anyOf"]}
    assert criterion["string"]["maxLength"] == 4_000
    content_type = document["components"]["schemas"]["AddAttachmentInput"]["properties"]["content_type"]
    assert not re.match(
        next(v for v in content_type["anyOf"] if "pattern" in v)["pattern"], "text/plain\r\nX: 1"
    )


def test_find_examples_use_each_familys_own_fields(document: dict[str, Any]) -> None:
    for action in catalog.ACTIONS:
        if action.kind.value != "find":
            continue
        _, _, op = _operations(document)[action.key]
        example = op["requestBody"]["content"]["application/json"]["examples"]["example"]["value"]
        assert set(example["criteria"]) <= set(catalog.family(action.family).example), action.key


def test_the_security_scheme_is_the_deployed_iam_signature(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["sigv4"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert document["security"] == [{"sigv4": []}]
    callback = document["paths"]["/oauth/callback"]["get"]
    assert callback["security"] == []
    assert "403" not in callback["responses"] or "text/html" in callback["responses"]["403"]["content"]


def test_the_docs_list_every_rule_the_document_cannot_express() -> None:
    docs = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = docs.split("### What the document cannot say", 1)[1].split("### ", 1)[0]
    for code in RULES_BEYOND_THE_SCHEMA:
        assert f"`{code}`" in section, code


def _body_schema(document: dict[str, Any], operation: str) -> dict[str, Any]:
    operations = _operations(document)
    # Powertools names the connections routes' operations itself (create_subscription_connections_...).
    _, _, op = operations.get(operation) or next(v for k, v in operations.items() if k.startswith(operation))
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _string_pattern(prop: dict[str, Any]) -> str:
    """The pattern of a property that may be null (``anyOf``: [the string, null])."""
    for choice in prop.get("anyOf", [prop]):
        if "pattern" in choice:
            return str(choice["pattern"])
    raise AssertionError(f"no pattern in {prop}")


def test_rules_the_fuzz_found_are_in_the_document(document: dict[str, Any]) -> None:
    """Issue 20's longer fuzz: schema-valid requests refused for rules OpenAPI can express."""
    # unknown_trigger: the trigger keys are a closed set.
    trigger = _body_schema(document, "create_subscription")["properties"]["trigger"]
    assert trigger["enum"] == [t.key for t in catalog.TRIGGERS]
    # invalid_id: an 18-character id's suffix is made of A-Z and 0-5.
    parent = _body_schema(document, "attachments.add")["properties"]["parent_id"]
    assert re.match(_string_pattern(parent), "001Hs08To00000VIEQ")
    assert not re.match(_string_pattern(parent), "001Hs08To00000VIE9")
    # wrong_object / invalid_input: a find-all page token names an OpportunityContactRole and a
    # time Python can read.
    token = _string_pattern(_body_schema(document, "associations.find_all")["properties"]["next_page"])
    assert re.match(token, "00KHs08To00007eMEA-1767225600")
    assert not re.match(token, "001Hs08To00000VIEQ-1767225600")
    assert not re.match(token, "00KHs08To00007eMEA-999999999999")
