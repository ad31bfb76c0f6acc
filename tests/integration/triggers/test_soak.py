"""The short chaos soak (bench/soak_triggers.py) in ``make test``: 0 lost, no duplicate with a new id.

It runs as its own process (it builds its own moto, emulator and runtime, and patches botocore and
httpx to kill invocations at random points). ``make soak DURATION=600`` runs the long version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DURATION = 40
"""Seconds of chaos (plus ~10 s of setup and drain): keeps ``make test`` near its 10 minutes."""


@pytest.mark.timeout(240)
def test_chaos_soak_loses_nothing_and_duplicates_only_with_the_first_id(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak_triggers.py"), "--duration", str(DURATION),
         "--seed", "7", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=220, check=False,
    )  # fmt: skip
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    summary = run.stdout[-3000:]
    assert result["writer_errors"] == [], summary
    assert result["events_expected"] >= 50, summary  # the writer really changed records
    # ... the field matched snapshot and list view paths among them
    assert result["changes"].get("untracked", 0) >= 1, summary
    chaos = result["chaos"]
    assert sum(chaos["faults"].values()) >= 1, summary  # the chaos really happened
    assert chaos["sns_entries_failed"] >= 1, summary
    assert chaos["overlaps"] >= 1, summary
    assert result["lost"] == 0, summary
    assert result["duplicated_new_id"] == 0, summary
    assert run.returncode == 0, summary
