"""files.created (issue 19): a new Salesforce File version rides the existing trigger engine as a
created stream on ContentVersion; the event names the record the file was published to."""

from __future__ import annotations

import base64

import pytest

from tests.fixtures.actions import SeededConnection
from tests.fixtures.aws import AwsEnv
from tests.fixtures.emulator import EmulatorHandle
from tests.integration.triggers.harness import Poller, by_subscription


@pytest.fixture
def poller(aws: AwsEnv, sf_emulator: EmulatorHandle, seeded_connection: SeededConnection) -> Poller:
    return Poller(aws, sf_emulator, seeded_connection)


def test_a_new_file_fires_files_created_once(poller: Poller) -> None:
    sub = poller.subscribe("files.created", fields=["Title", "FirstPublishLocationId", "ContentSize"])
    poller.poll()
    account = poller.write("insert", "Account", {"Name": "Files Trigger Co"})
    version = poller.write(
        "insert",
        "ContentVersion",
        {
            "PathOnClient": "brief.pdf",
            "VersionData": base64.b64encode(b"%PDF brief").decode(),
            "FirstPublishLocationId": account,
        },
    )
    poller.poll()
    poller.poll()  # a second cycle publishes nothing new
    got = by_subscription(poller.drain())[sub.subscription_id]
    assert [e["subject"] for e in got] == [version]
    assert got[0]["data"]["FirstPublishLocationId"] == account
    assert got[0]["data"]["Title"] == "brief"


def test_linked_object_keeps_only_the_files_of_that_objects_records(poller: Poller) -> None:
    """A files.created subscription with ``linked_object`` (stored with its key prefix, as the
    subscriptions service resolves it) gets the files published to Accounts only, even when its
    ``fields`` leave FirstPublishLocationId out (the filter reads it anyway)."""
    accounts_only = poller.subscribe(
        "files.created", fields=["Title"], params={"linked_object": "Account", "linked_prefix": "001"}
    )
    every = poller.subscribe("files.created", fields=["Title"])
    poller.poll()
    account = poller.write("insert", "Account", {"Name": "Linked Files Co"})
    contact = poller.write("insert", "Contact", {"LastName": "Linked"})
    versions = {
        parent: poller.write(
            "insert",
            "ContentVersion",
            {
                "PathOnClient": f"{parent}.txt",
                "VersionData": base64.b64encode(b"linked").decode(),
                "FirstPublishLocationId": parent,
            },
        )
        for parent in (account, contact)
    }
    poller.poll()
    got = by_subscription(poller.drain())
    assert [e["subject"] for e in got[accounts_only.subscription_id]] == [versions[account]]
    assert sorted(e["subject"] for e in got[every.subscription_id]) == sorted(versions.values())
    assert "FirstPublishLocationId" not in got[every.subscription_id][0]["data"]  # its own fields only
