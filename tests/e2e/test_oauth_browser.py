"""The whole OAuth connect flow in a real headless browser (Debian's Chromium driven by Playwright).

The browser opens ``authorize_url``, sees the emulator's consent page, clicks Allow, is redirected
to this deployment's ``/oauth/callback`` (served by a loopback front that turns HTTP requests into
API Gateway events for the connections handler) and lands on the "connected" page. Then the
connection reports ``connected`` and an action succeeds with the tokens the flow stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sfconnector.runtime import get_runtime

from tests.fixtures.actions import load_function
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.connections.apigw import api_event, lambda_context
from tests.integration.connections.front import LoopbackFront
from tests.integration.connections.harness import ROOT, connections_environment

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is not installed (Debian package 'chromium'; .ci/run installs it)",
    ),
]


@pytest.fixture
def front(
    aws: AwsEnv, sf_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackFront]:
    with connections_environment(monkeypatch, sf_emulator):
        handler = load_function("connections").lambda_handler
        server = LoopbackFront(handler, public_paths=("/oauth/callback",)).start()
        try:
            yield server
        finally:
            server.stop()


def _create_account(connection_id: str, name: str) -> dict[str, Any]:
    """Run the accounts "create" action as its function would."""
    accounts = ROOT / "functions" / "accounts" / "app.py"
    if accounts.exists():
        event = api_event("POST", f"/connections/{connection_id}/accounts", body={"Name": name})
        event["resource"] = "/connections/{connection_id}/accounts"
        event["pathParameters"] = {"connection_id": connection_id}
        result = load_function("accounts").lambda_handler(event, lambda_context())
        assert result["statusCode"] in (200, 201), result["body"]
        body: dict[str, Any] = json.loads(result["body"])
        return body
    client = get_runtime().salesforce(connection_id)
    record_id = client.create("Account", {"Name": name})
    return {"record": client.get_record("Account", record_id)}


def test_connect_in_a_real_browser(front: LoopbackFront, sf_emulator: EmulatorHandle, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    callback = f"{front.base_url}/oauth/callback"
    app = sf_emulator.register_app("Workflow connector (browser)", [callback])
    with httpx.Client(base_url=front.base_url, timeout=30) as api:
        created = api.post(
            "/connections",
            json={
                "name": "Browser test",
                "environment": "production",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        assert created.status_code == 201, created.text
        started = created.json()
        assert started["redirect_uri"] == callback
        cid = started["connection_id"]

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(started["authorize_url"])
                assert page.title() == "Allow Access?"
                assert "Workflow connector (browser)" in page.inner_text("#app-name")
                page.screenshot(path=str(tmp_path / "consent.png"))
                with page.expect_navigation(url=f"{callback}?*"):
                    page.click("#allow")
                page.wait_for_selector("main[data-outcome]")
                page.screenshot(path=str(tmp_path / "connected.png"))
                assert page.title() == "Salesforce connected"
                assert page.get_attribute("main", "data-outcome") == "connected"
                text = page.inner_text("main")
                assert "The connection is ready" in text
                assert sf_emulator.org_id[:15] in text
                # Nothing of the code exchange is shown; the URL only holds what Salesforce put there.
                assert "code=" not in text
            finally:
                browser.close()

        status = api.get(f"/connections/{cid}")
        assert status.status_code == 200
        view = status.json()
        assert view["status"] == "connected"
        assert view["org_id"][:15] == sf_emulator.org_id[:15]
        assert view["instance_url"] == sf_emulator.base_url

    created_account = _create_account(cid, "Created after a browser connect")
    record = created_account.get("record", created_account)
    assert record["Name"] == "Created after a browser connect"
    with sf_emulator.rest_client() as rest:
        found = rest.get(
            "/query", params={"q": "SELECT Id FROM Account WHERE Name = 'Created after a browser connect'"}
        )
        assert found.json()["totalSize"] == 1
    assert front.requests[:3] == ["POST /connections", "GET /oauth/callback", "GET /connections/" + cid]
