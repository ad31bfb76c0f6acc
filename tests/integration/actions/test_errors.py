"""The one error shape, with the right status, for what goes wrong beyond the caller's input:
unknown connection, revoked authorisation, API limit, Salesforce outages and refusals, and bugs.
No answer ever carries a stack trace or a token."""

from __future__ import annotations

import json
import logging
import re

import boto3
import pytest
from sfconnector.actions.records import RecordService

from tests.fixtures.actions import ActionApi, SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.actions.conftest import OrgReader


def test_unknown_connection_is_a_404(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    before = sf_emulator.api_calls()
    response = ActionApi("no-such-connection").post("accounts", {"Name": "x"})
    assert response.status == 404, response
    assert response.error["code"] == "connection_not_found"
    assert response.error["fields"] == ["connection_id"]
    assert sf_emulator.api_calls() == before


def test_an_expired_session_is_refreshed_transparently(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.expire_sessions()
    response = action_api.post("accounts", {"Name": "After Expiry"})
    assert response.status == 201, response
    with sf_emulator.rest_client() as fresh:  # the old reader's session expired too
        assert fresh.get(f"/sobjects/Account/{response.body['id']}").status_code == 200


def test_a_revoked_authorisation_is_a_401_and_then_fails_fast(
    action_api: ActionApi, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection
) -> None:
    sf_emulator.revoke_refresh_token(seeded_connection.refresh_token)
    sf_emulator.expire_sessions()
    first = action_api.post("accounts", {"Name": "Never"})
    assert first.status == 401, first
    assert first.error["code"] == "connection_needs_reauth"
    assert first.error["fields"] == ["connection_id"]
    before = sf_emulator.api_calls()
    second = action_api.get("accounts/001000000000001AAA")
    assert second.status == 401, second
    assert second.error["code"] == "connection_needs_reauth"
    assert sf_emulator.api_calls() == before  # known dead: Salesforce is not asked again


def test_the_daily_api_limit_is_a_429(action_api: ActionApi, sf_emulator: EmulatorHandle) -> None:
    sf_emulator.exhaust_daily_limit()
    response = action_api.get("accounts/001000000000001AAA")
    assert response.status == 429, response
    error = response.error
    assert error["code"] == "salesforce_rate_limited"
    assert [item["errorCode"] for item in error["salesforce"]] == ["REQUEST_LIMIT_EXCEEDED"]


def test_salesforce_unavailable_is_a_503_with_retry_after(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.add_fault("error", status=503, path="/composite", count=1)
    response = action_api.post("accounts", {"Name": "During Outage"})
    assert response.status == 503, response
    assert response.error["code"] == "salesforce_unavailable"
    assert response.headers["Retry-After"]


def test_an_html_error_page_is_a_502_without_the_page(
    action_api: ActionApi, sf_emulator: EmulatorHandle
) -> None:
    page = "<html><body>Internal Server Error at node-17 trace=abc</body></html>"
    sf_emulator.add_fault(
        "error", status=500, path="/composite", count=1, body=page, content_type="text/html"
    )
    response = action_api.post("accounts", {"Name": "Broken Edge"})
    assert response.status == 502, response
    assert response.error["code"] == "salesforce_error"
    assert "node-17" not in response.text


def test_salesforce_refusals_keep_salesforce_errors(action_api: ActionApi, org: OrgReader) -> None:
    # An Event needs a duration or an end (a rule of Salesforce's, not of the describe).
    no_duration = action_api.post(
        "events", {"Subject": "Open ended", "StartDateTime": "2030-01-01T10:00:00Z"}
    )
    assert no_duration.status == 422, no_duration
    error = no_duration.error
    assert error["code"] == "rejected_by_salesforce"
    assert error["salesforce"]
    assert error["message"].startswith("Salesforce: ")

    first = action_api.post("contacts", {"LastName": "One", "External_Id__c": "DUP-1"})
    assert first.status == 201, first
    duplicate = action_api.post("contacts", {"LastName": "Two", "External_Id__c": "DUP-1"})
    assert duplicate.status == 409, duplicate
    assert duplicate.error["code"] == "duplicate"
    assert [i["errorCode"] for i in duplicate.error["salesforce"]] == ["DUPLICATE_VALUE"]
    assert org.query("SELECT Id FROM Contact WHERE LastName = 'Two'") == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_bug_is_a_generic_500_without_internals(
    action_api: ActionApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = _Records()
    errors_logger = logging.getLogger("sfconnector.api.errors")
    errors_logger.addHandler(handler)
    monkeypatch.setattr(errors_logger, "level", logging.INFO)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail: /var/task/secret.py token=00Dabc!SECRETSECRETSECRET")

    monkeypatch.setattr(RecordService, "create", broken)
    response = action_api.post("accounts", {"Name": "Boom"})
    assert response.status == 500, response
    error = response.error
    assert error["code"] == "internal_error"
    reference = re.search(r"\(reference ([0-9a-f-]{36})\)", error["message"])
    assert reference, error["message"]
    for leak in ("RuntimeError", "Traceback", "secret.py", "SECRET", "internal detail"):
        assert leak not in response.text
    errors_logger.removeHandler(handler)
    # The operator sees what happened, with the traceback and the reference given to the caller.
    logged = [r for r in handler.records if r.exc_info]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is RuntimeError
    assert reference.group(1) in logged[0].getMessage()


def test_no_token_ever_reaches_a_response_or_a_log(
    action_api: ActionApi,
    aws: AwsEnv,
    sf_emulator: EmulatorHandle,
    seeded_connection: SeededConnection,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sf_emulator.expire_sessions()  # forces a refresh: the new token travels through the code too
    responses = [
        action_api.post("accounts", {"Name": "Quiet"}),
        action_api.post("accounts", {"Nmae": "typo"}),
        action_api.get("accounts/001000000000001AAA"),
        action_api.post("accounts/find", {"criteria": {"Name": "Quiet"}}),
    ]
    sf_emulator.exhaust_daily_limit()
    responses.append(action_api.get("accounts/001000000000001AAA"))
    output = capfd.readouterr()
    text = " ".join(r.text + str(r.headers) for r in responses) + output.out + output.err + caplog.text
    stored = json.loads(
        boto3.client("secretsmanager", region_name=aws.region).get_secret_value(
            SecretId=f"{aws.secret_prefix}{seeded_connection.connection_id}"
        )["SecretString"]
    )
    assert stored["access_token"] != seeded_connection.access_token  # it was refreshed during the test
    for secret in (stored["access_token"], seeded_connection.access_token, seeded_connection.refresh_token):
        assert secret not in text
    assert sf_emulator.client_secret not in text
    assert "Bearer " not in text


@pytest.mark.parametrize(
    ("method", "path", "function", "allowed"),
    [
        ("PUT", "accounts", None, "POST"),
        ("POST", "accounts/001000000000001AAA", None, "DELETE, GET, PATCH"),
        ("GET", "attachments", None, "POST"),
        ("PUT", "custom_objects/Invoice__c", None, "POST"),
        ("DELETE", "/catalog", "meta", "GET"),
        ("PUT", "/connections", "connections", "GET, POST"),
    ],
)
def test_a_wrong_method_on_a_known_path_is_a_405_with_allow(
    action_api: ActionApi,
    sf_emulator: EmulatorHandle,
    method: str,
    path: str,
    function: str | None,
    allowed: str,
) -> None:
    before = sf_emulator.api_calls()
    response = action_api.request(method, path, {"Name": "x"}, function=function)
    assert response.status == 405, response
    assert response.error["code"] == "method_not_allowed"
    assert response.headers["Allow"] == allowed
    assert method in response.error["message"]
    assert sf_emulator.api_calls() == before


def test_an_unknown_path_is_still_a_404(action_api: ActionApi) -> None:
    response = action_api.get("accounts/001000000000001AAA/nothing/here")
    assert response.status == 404, response
    assert response.error["code"] == "route_not_found"
    assert "Allow" not in response.headers
