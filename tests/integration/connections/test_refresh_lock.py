"""The refresh lock's edge cases: a crashed holder, a holder that never finishes, pending connections."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from sfconnector.api.errors import map_exception
from sfconnector.errors import ConnectionNeedsReauthError, ConnectionPendingError
from sfconnector.salesforce.errors import SalesforceUnavailableError

from tests.integration.connections.harness import ConnectionsApi, connection_client, subscribe_queue


def _hold_lock(connections: ConnectionsApi, cid: str, *, expires_in: float) -> None:
    boto3.client("dynamodb", region_name=connections.aws.region).put_item(
        TableName=connections.aws.table_name,
        Item={
            "pk": {"S": f"CONNECTION#{cid}"},
            "sk": {"S": "REFRESH_LOCK"},
            "owner": {"S": "another-invocation"},
            "expires_at": {"N": str(int(time.time() + expires_in))},
        },
    )


def test_a_crashed_holder_does_not_block_refreshes(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    _hold_lock(connections, cid, expires_in=-5)  # its holder died; the TTL sweep has not run yet
    connections.emulator.expire_sessions()
    container = connection_client(connections.aws, cid)
    assert container.client.limits()["DailyApiRequests"]["Max"] > 0
    assert container.provider.refresh_calls == 1
    assert not [i for i in connections.table_items() if i["sk"]["S"] == "REFRESH_LOCK"]


def test_a_holder_that_never_finishes_makes_waiters_give_up_cleanly(connections: ConnectionsApi) -> None:
    cid = connections.connect()
    _hold_lock(connections, cid, expires_in=60)
    connections.emulator.expire_sessions()
    container = connection_client(connections.aws, cid, wait_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(SalesforceUnavailableError) as raised:
        container.client.limits()
    assert raised.value.error_code == "TOKEN_REFRESH_BUSY"
    assert time.monotonic() - started < 5
    assert container.provider.refresh_calls == 0
    assert connections.emulator.expire_sessions() == 0  # nobody refreshed

    # Callers get a retryable 503.
    answer = map_exception(raised.value)
    assert answer.status == 503
    assert answer.headers == {"Retry-After": "5"}


def test_a_pending_connection_is_not_usable(connections: ConnectionsApi) -> None:
    cid = connections.create()["connection_id"]
    with pytest.raises(ConnectionPendingError):
        connection_client(connections.aws, cid).client.limits()


def test_a_half_finished_needs_reauth_is_completed_once(connections: ConnectionsApi) -> None:
    sqs, queue_url = subscribe_queue(connections.aws)
    cid = connections.connect()
    # A container died between dropping the dead tokens and flagging the connection.
    stored = connections.secret(cid)
    stored.update(access_token=None, refresh_token=None, token_version=stored["token_version"] + 1)
    boto3.client("secretsmanager", region_name=connections.aws.region).put_secret_value(
        SecretId=f"{connections.aws.secret_prefix}{cid}", SecretString=json.dumps(stored)
    )
    for _ in range(2):
        with pytest.raises(ConnectionNeedsReauthError):
            connection_client(connections.aws, cid).client.limits()
    view = connections.get(cid)
    assert view["status"] == "needs_reauth"
    assert view["status_reason"] == "no refresh token stored"
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    assert (
        json.loads(json.loads(messages[0]["Body"])["Message"])["data"]["reason"] == "no refresh token stored"
    )
