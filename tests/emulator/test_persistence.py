"""A local org survives restarts through its state file; ``python -m sfemulator`` starts and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sfemulator.org import Org
from sfemulator.server import EmulatorServer


def test_state_file_keeps_records_tokens_and_apps(tmp_path: Path) -> None:
    state = tmp_path / "org.json"
    first = EmulatorServer(Org(), state_file=state).start()
    try:
        admin = httpx.Client(base_url=first.base_url)
        grant = admin.post("/__emulator__/tokens", json={}).json()
        app = admin.post(
            "/__emulator__/apps", json={"name": "Kept", "redirect_uris": ["http://x.test/cb"]}
        ).json()
        headers = {"Authorization": f"Bearer {grant['access_token']}"}
        base = f"{first.base_url}/services/data/v62.0"
        rid = httpx.post(f"{base}/sobjects/Account", json={"Name": "Survivor"}, headers=headers).json()["id"]
        deleted = httpx.post(
            f"{base}/sobjects/Lead", json={"LastName": "Gone", "Company": "x"}, headers=headers
        )
        httpx.delete(f"{base}/sobjects/Lead/{deleted.json()['id']}", headers=headers)
        admin.close()
    finally:
        first.stop()
    saved = json.loads(state.read_text())
    assert saved["org_id"] == first.org.org_id
    assert oct(state.stat().st_mode & 0o777) == "0o600"

    second = EmulatorServer(Org(), state_file=state).start()
    try:
        base = f"{second.base_url}/services/data/v62.0"
        refreshed = httpx.post(
            f"{second.base_url}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": grant["refresh_token"],
                "client_id": second.demo_connected_app.client_id,
            },
        )
        assert refreshed.status_code == 200
        headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert httpx.get(f"{base}/sobjects/Account/{rid}", headers=headers).json()["Name"] == "Survivor"
        binned = httpx.get(
            f"{base}/queryAll", params={"q": "SELECT Id FROM Lead WHERE IsDeleted = true"}, headers=headers
        ).json()
        assert binned["totalSize"] == 1
        new_id = httpx.post(
            f"{base}/sobjects/Account", json={"Name": "After restart"}, headers=headers
        ).json()["id"]
        assert new_id != rid  # the id counter was restored too
        apps = httpx.get(f"{second.base_url}/__emulator__/apps").json()["apps"]
        assert app["client_id"] in {a["client_id"] for a in apps}
        usage = httpx.get(f"{second.base_url}/__emulator__/usage").json()["api_calls"]
        assert usage == 6  # 3 calls before the restart, 3 after
    finally:
        second.stop()


def test_state_file_of_another_org_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "org.json"
    EmulatorServer(Org(), state_file=state).start().stop()
    from sfemulator.org import OrgConfig

    with pytest.raises(ValueError, match="belongs to org"):
        EmulatorServer(Org(OrgConfig(org_id="00DHs00000Other")), state_file=state)


@pytest.mark.e2e
def test_module_entry_point_prints_credentials_and_stops_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = {
        **os.environ,
        "SF_EMULATOR_PORT": "0",
        "SF_EMULATOR_STATE_FILE": str(state),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen([sys.executable, "-m", "sfemulator"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("base_url: http://127.0.0.1:")
        assert lines[1].startswith("client_id: 3MVG9")
        assert lines[2].startswith("client_secret: ")
        base_url = lines[0].removeprefix("base_url: ")
        assert httpx.get(f"{base_url}/__emulator__/health").json()["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(state.read_text())["version"] == 1
