"""Tenant ids from callers' identities, and their S3 prefixes."""

from __future__ import annotations

import pytest
from sfconnector.api.tenancy import resolve_caller
from sfconnector.errors import CallerUnknownError
from sfconnector.models.tenancy import assumed_role_to_role, tenant_prefix
from sfconnector.settings import CoreSettings

SETTINGS = CoreSettings.model_validate(
    {
        "TABLE_NAME": "table",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:topic",
        "PAYLOAD_BUCKET": "bucket",
        "SECRET_PREFIX": "p/",
        "AWS_REGION": "us-east-1",
        "ADMIN_PRINCIPAL": "arn:aws:iam::123456789012:role/admin",
    }
)


def _event(
    identity: dict[str, str] | None = None, authorizer: dict[str, object] | None = None
) -> dict[str, object]:
    context: dict[str, object] = {"identity": identity or {}}
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {"requestContext": context}


def test_an_assumed_roles_sessions_are_one_tenant() -> None:
    arn = "arn:aws:sts::123456789012:assumed-role/workflows/session-42"
    assert assumed_role_to_role(arn) == "arn:aws:iam::123456789012:role/workflows"
    assert (
        resolve_caller(_event({"userArn": arn}), SETTINGS).tenant_id
        == "arn:aws:iam::123456789012:role/workflows"
    )
    assert resolve_caller(
        _event({"userArn": "arn:aws:sts::123456789012:assumed-role/admin/x"}), SETTINGS
    ).admin


def test_claims_and_authorizer_values_name_the_tenant_when_configured() -> None:
    claim = SETTINGS.model_copy(update={"tenant_source": "claim:custom:tenant"})
    jwt = _event(authorizer={"jwt": {"claims": {"custom:tenant": "acme"}}})
    assert resolve_caller(jwt, claim).tenant_id == "acme"
    cognito = _event(authorizer={"claims": {"custom:tenant": "globex"}})
    assert resolve_caller(cognito, claim).tenant_id == "globex"
    lambda_authorizer = SETTINGS.model_copy(update={"tenant_source": "authorizer:tenant"})
    assert resolve_caller(_event(authorizer={"tenant": "initech"}), lambda_authorizer).tenant_id == "initech"
    # Never the body or a header: a request with none of them has no tenant.
    with pytest.raises(CallerUnknownError):
        resolve_caller(_event({"userArn": "arn:aws:iam::1:user/x"}), claim)


def test_an_identity_a_tenant_id_cannot_hold_is_refused() -> None:
    with pytest.raises(CallerUnknownError):
        resolve_caller(_event({"userArn": "arn:aws:iam::123456789012:user/a,b"}), SETTINGS)


def test_tenant_prefixes_never_nest() -> None:
    parent = tenant_prefix("arn:aws:iam::123456789012:user/a")
    child = tenant_prefix("arn:aws:iam::123456789012:user/a/b")
    assert parent.startswith("tenants/")
    assert parent.count("/") == child.count("/") == 2  # one key segment each
    assert not child.startswith(parent)
    assert tenant_prefix(None) == ""
