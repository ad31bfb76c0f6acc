"""No token, secret, authorization code or PKCE verifier in any log line of a whole flow.

Captured: the Powertools Logger's own JSON output (with its formatter) and every standard logging
record in the process at DEBUG (root, ``sfconnector.*``, httpx, botocore...). Only the loggers of
the test doubles (moto, the emulator) are left out: they do not exist in a deployed function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sfconnector.api import observability

from tests.fixtures.keys import key_pair
from tests.integration.connections.conftest import register_app
from tests.integration.connections.harness import ConnectionsApi, connection_client, query_of

_TEST_DOUBLES = ("moto", "sfemulator", "werkzeug", "responses")


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_TEST_DOUBLES):
            return
        text = self.format(record)
        if record.exc_info and record.exc_info[1] is not None and self.formatter is None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def captured_logs(connections: ConnectionsApi) -> Iterator[Callable[[], str]]:
    # Build the function's Powertools Logger now (as its first invocation would), then listen
    # to it with its own formatter and to every standard logger at DEBUG.
    powertools = observability.logger()
    pt_logger: logging.Logger = powertools._logger
    pt_capture = _Capture(pt_logger.handlers[0].formatter if pt_logger.handlers else None)
    std_capture = _Capture(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    # Loggers that do not propagate (Powertools' copies, e.g. "sfconnector") get the capture too.
    targets = [root, pt_logger] + [
        lg
        for lg in (logging.getLogger(name) for name in list(logging.root.manager.loggerDict))
        if isinstance(lg, logging.Logger) and not lg.propagate
    ]
    saved = [(lg, lg.level) for lg in targets]
    powertools_handlers = set(pt_logger.handlers)
    for lg in targets:
        lg.setLevel(logging.DEBUG)
        # Loggers that write through Powertools' handler are captured in Powertools' format.
        uses_powertools = lg is pt_logger or bool(powertools_handlers & set(lg.handlers))
        lg.addHandler(pt_capture if uses_powertools else std_capture)
    try:
        yield lambda: "\n".join(pt_capture.lines + std_capture.lines)
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(pt_capture)
            lg.removeHandler(std_capture)


def test_a_whole_flow_logs_no_secret(connections: ConnectionsApi, captured_logs: Callable[[], str]) -> None:
    secrets: set[str] = {connections.client_secret}

    def remember_state(authorize_url: str) -> None:
        state = query_of(authorize_url)["state"]
        secrets.add(state)
        for item in connections.table_items():
            if item["pk"]["S"] == f"OAUTHSTATE#{state}":
                secrets.add(item["code_verifier"]["S"])

    def flow(**body: Any) -> str:
        started = connections.create(**body)
        remember_state(started["authorize_url"])
        location = connections.consent(started["authorize_url"])
        secrets.add(query_of(location)["code"])
        assert connections.callback(location).outcome == "connected"
        return str(started["connection_id"])

    def remember_tokens(cid: str) -> None:
        stored = connections.secret(cid)
        secrets.update(v for k, v in stored.items() if k in ("access_token", "refresh_token") and v)

    # Connect, use, expire, refresh.
    cid = flow(name="Logged")
    remember_tokens(cid)
    assert connections.call("GET", f"/connections/{cid}/objects/Account/fields").status == 200
    connections.emulator.expire_sessions()
    assert connections.call("GET", f"/connections/{cid}/objects/Contact/fields").status == 200
    remember_tokens(cid)

    # Rotation.
    rot_id, rot_secret = register_app(connections.emulator, rotate_refresh_tokens=True)
    secrets.add(rot_secret)
    rotating = flow(name="Rotating", client_id=rot_id, client_secret=rot_secret)
    remember_tokens(rotating)
    connections.emulator.expire_sessions()
    connection_client(connections.aws, rotating).client.limits()
    remember_tokens(rotating)

    # A wrong client secret (token error page).
    wrong = "Wr0ngS3cretValue-do-not-log"
    secrets.add(wrong)
    started = connections.create(client_secret=wrong)
    remember_state(started["authorize_url"])
    location = connections.consent(started["authorize_url"])
    secrets.add(query_of(location)["code"])
    assert connections.callback(location).outcome == "token_error"

    # Revoked refresh token: needs_reauth, then re-authorisation.
    connections.emulator.revoke_refresh_token(connections.secret(cid)["refresh_token"])
    assert connections.call("GET", f"/connections/{cid}/objects/Lead/fields").status == 401
    again = connections.call("POST", f"/connections/{cid}/reauthorize", {}).json()
    remember_state(again["authorize_url"])
    location = connections.consent(again["authorize_url"])
    secrets.add(query_of(location)["code"])
    assert connections.callback(location).outcome == "connected"
    remember_tokens(cid)

    # Replay and delete.
    assert connections.callback(location).outcome == "state_invalid"
    assert connections.call("DELETE", f"/connections/{cid}").status == 200
    assert connections.call("DELETE", f"/connections/{rotating}").status == 200

    text = captured_logs()
    # The capture works: the flow's own log lines are there.
    assert "connected (org" in text
    assert "access token refreshed" in text
    assert "marking needs_reauth" in text
    assert "deleted (revoked=True" in text
    assert '"level":"INFO"' in text or '"level": "INFO"' in text, "Powertools JSON lines expected"

    assert len(secrets) >= 15
    for value in secrets:
        # Whole values, and their tails (a truncated token would still be a leak).
        assert value not in text
        assert value[-16:] not in text


def test_server_to_server_connections_log_no_key_secret_or_token(
    connections: ConnectionsApi, captured_logs: Callable[[], str]
) -> None:
    emulator = connections.emulator
    integration = next(u["username"] for u in emulator.users() if u["id"] == emulator.integration_user_id)
    keys = key_pair()
    jwt_app, _ = register_app(emulator, certificate=keys.certificate, jwt_usernames=[integration])
    cc_app, cc_secret = register_app(emulator, client_credentials_username=integration)
    secrets: set[str] = {cc_secret, *keys.private_key.strip().splitlines()[1:-1]}

    def tokens(cid: str) -> None:
        stored = connections.secret(cid)
        secrets.update(v for k, v in stored.items() if k in ("access_token", "private_key") and v)

    jwt_body = {"flow": "jwt_bearer", "name": "JWT", "environment": "production", "client_id": jwt_app,
                "username": integration, "private_key": keys.private_key}  # fmt: skip
    jwt_id = connections.call("POST", "/connections", jwt_body).json()["connection_id"]
    cc_body = {"flow": "client_credentials", "name": "CC", "environment": emulator.base_url,
               "client_id": cc_app, "client_secret": cc_secret}  # fmt: skip
    cc_id = connections.call("POST", "/connections", cc_body).json()["connection_id"]
    tokens(jwt_id)
    tokens(cc_id)
    # Renewals (a new assertion, a new grant), refusals, and deletion.
    emulator.expire_sessions()
    for cid in (jwt_id, cc_id):
        assert connections.call("GET", f"/connections/{cid}/objects/Account/fields").status == 200
        tokens(cid)
    wrong = "Wr0ngCl1entS3cret-do-not-log"
    secrets.add(wrong)
    assert connections.call("POST", "/connections", {**cc_body, "client_secret": wrong}).status == 422
    other = key_pair("other").private_key
    secrets.update(other.strip().splitlines()[1:-1])
    assert connections.call("POST", "/connections", {**jwt_body, "private_key": other}).status == 422
    assert connections.call("POST", "/connections", {**jwt_body, "private_key": "garbage"}).status == 422
    for cid in (jwt_id, cc_id):
        assert connections.call("DELETE", f"/connections/{cid}").status == 200

    text = captured_logs()
    assert "connected by the jwt_bearer flow" in text
    assert "connected by the client_credentials flow" in text
    assert "access token refreshed" in text
    assert "grant (client_credentials) refused" in text
    for value in secrets:
        assert value not in text
        assert value[-16:] not in text
