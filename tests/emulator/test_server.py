"""The emulator as an HTTP server: start/stop, keep-alive, the fixture's reset, the admin basics."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable

import httpx

from tests.fixtures.emulator import EmulatorHandle


def test_fixture_resets_records_tokens_and_usage(sf_emulator: EmulatorHandle) -> None:
    token = sf_emulator.access_token()
    with sf_emulator.rest_client(token) as api:
        created = api.post("/sobjects/Account", json={"Name": "Temporary"}).json()["id"]
        assert api.get(f"/sobjects/Account/{created}").status_code == 200
    assert sf_emulator.api_calls() == 2
    sf_emulator.reset()
    assert sf_emulator.api_calls() == 0
    with sf_emulator.rest_client(token) as api:
        # Reset drops issued tokens too: each test starts from a clean org.
        assert api.get(f"/sobjects/Account/{created}").status_code == 401
    with sf_emulator.rest_client() as api:
        assert api.get(f"/sobjects/Account/{created}").status_code == 404


def test_keep_alive_connection_serves_many_requests(sf_emulator: EmulatorHandle) -> None:
    token = sf_emulator.access_token()
    host, port = sf_emulator.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        for _ in range(20):
            conn.request("GET", "/services/data/v62.0/limits", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            assert conn.sock is sock, "the server closed a keep-alive connection"
    finally:
        conn.close()


def test_stop_releases_the_port(sf_emulator_factory: Callable[..., EmulatorHandle]) -> None:
    second = sf_emulator_factory()
    port = second.server.port
    assert httpx.get(f"{second.base_url}/__emulator__/health").status_code == 200
    second.server.stop()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_unknown_paths_answer_like_salesforce(sf_emulator: EmulatorHandle) -> None:
    assert httpx.get(f"{sf_emulator.base_url}/nothing/here").status_code == 404
    versions = httpx.get(f"{sf_emulator.base_url}/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[0])
    assert any(v["version"] == sf_emulator.api_version.removeprefix("v") for v in versions)
    with sf_emulator.rest_client() as api:
        missing = api.get("/sobjects/Account/describe/layouts")
        assert missing.status_code == 404
        assert missing.json() == [
            {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
        ]


def test_long_uris_are_refused_but_fit_in_a_composite(sf_emulator: EmulatorHandle) -> None:
    ids = ", ".join(f"'001Hs00000{i:05d}'" for i in range(1200))
    soql = f"SELECT Id FROM Account WHERE Id IN ({ids})"  # noqa: S608
    with sf_emulator.rest_client() as api:
        too_long = api.get("/query", params={"q": soql})
        assert too_long.status_code == 414
        inside = api.post(
            "/composite",
            json={
                "compositeRequest": [
                    {
                        "method": "GET",
                        "url": f"/services/data/{sf_emulator.api_version}/query?q={soql}",
                        "referenceId": "q",
                    }
                ]
            },
        )
        assert inside.json()["compositeResponse"][0]["httpStatusCode"] == 200
