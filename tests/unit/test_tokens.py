"""SecretsTokenStore against moto's Secrets Manager; secrets never in logs, reprs or dumps."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3
import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from pydantic import SecretStr, ValidationError
from sfconnector.stores.tokens import (
    ConnectionSecret,
    ConnectionSecretNotFoundError,
    SecretsTokenStore,
    validate_connection_id,
)

from tests.fixtures.aws import AwsEnv

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

CLIENT_SECRET = "C0nnectedAppSecret-9f8e7d6c5b4a"
REFRESH = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrGe3b1PVx2Y1c.rotation1"
ACCESS = "00D5e000000ABCD!AQ8AQJh1e2b3c4d5e6f7g8h9i0jKLMNOPQRSTUVWXYZ.abc_def"
ACCESS_2 = "00D5e000000ABCD!AQ8AQSecondTokenAfterRefreshZZZZZZZZZZZZZZ.xyz"
SECRET_VALUES = (CLIENT_SECRET, REFRESH, ACCESS, ACCESS_2)


class CountingClient:
    """Wraps the moto client to count GetSecretValue calls (the cache is what we test)."""

    def __init__(self, client: SecretsManagerClient) -> None:
        self._client = client
        self.gets = 0
        self.exceptions = client.exceptions

    def get_secret_value(self, **kwargs: object) -> object:
        self.gets += 1
        return self._client.get_secret_value(**kwargs)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def _secret(**extra: object) -> ConnectionSecret:
    return ConnectionSecret.model_validate(
        {
            "client_id": "3MVG9-connected-app",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            "access_token": ACCESS,
            "instance_url": "https://acme.my.salesforce.com/",
            "login_url": "https://login.salesforce.com",
            "issued_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            **extra,
        }
    )


@pytest.fixture
def counting(aws: AwsEnv) -> CountingClient:
    return CountingClient(boto3.client("secretsmanager", region_name=aws.region))


@pytest.fixture
def store(aws: AwsEnv, counting: CountingClient) -> SecretsTokenStore:
    return SecretsTokenStore(lambda: counting, aws.secret_prefix, max_age=60)  # type: ignore[arg-type,return-value]


def test_put_get_round_trip_in_one_secret_per_connection(store: SecretsTokenStore, aws: AwsEnv) -> None:
    store.put("conn-1", _secret())
    got = store.get("conn-1")
    assert got.client_secret.get_secret_value() == CLIENT_SECRET
    assert got.refresh_token is not None
    assert got.refresh_token.get_secret_value() == REFRESH
    assert got.instance_url == "https://acme.my.salesforce.com"
    assert got.issued_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    access = got.access()
    assert access is not None
    assert access.access_token.get_secret_value() == ACCESS

    raw = boto3.client("secretsmanager").get_secret_value(SecretId=f"{aws.secret_prefix}conn-1")
    stored = json.loads(raw["SecretString"])
    assert stored["refresh_token"] == REFRESH  # Secrets Manager holds the real values
    described = boto3.client("secretsmanager").describe_secret(SecretId=f"{aws.secret_prefix}conn-1")
    assert {"Key": "sfconnector:connection_id", "Value": "conn-1"} in described["Tags"]


def test_reads_are_cached_and_force_fetch_bypasses(
    store: SecretsTokenStore, counting: CountingClient
) -> None:
    store.put("conn-1", _secret())
    store.get("conn-1")
    store.get("conn-1")
    assert counting.gets == 1
    store.get("conn-1", force_fetch=True)
    assert counting.gets == 2


def test_writes_are_seen_at_once_by_the_writer(store: SecretsTokenStore) -> None:
    store.put("conn-1", _secret())
    first = store.get("conn-1")
    renewed = first.with_tokens(access_token=ACCESS_2, instance_url="https://acme2.my.salesforce.com")
    store.put("conn-1", renewed)
    again = store.get("conn-1")
    assert again.access_token is not None
    assert again.access_token.get_secret_value() == ACCESS_2
    assert again.token_version == first.token_version + 1
    assert again.refresh_token == first.refresh_token  # kept when no rotation happened
    rotated = again.with_tokens(
        access_token=ACCESS, instance_url="https://acme2.my.salesforce.com", refresh_token="new-rt"
    )
    assert rotated.refresh_token is not None
    assert rotated.refresh_token.get_secret_value() == "new-rt"


def test_another_containers_write_is_seen_after_max_age_or_force(aws: AwsEnv) -> None:
    writer = SecretsTokenStore(lambda: boto3.client("secretsmanager"), aws.secret_prefix)
    reader = SecretsTokenStore(lambda: boto3.client("secretsmanager"), aws.secret_prefix, max_age=60)
    writer.put("c", _secret())
    assert reader.get("c").token_version == 0
    writer.put(
        "c", writer.get("c").with_tokens(access_token=ACCESS_2, instance_url="https://a.my.salesforce.com")
    )
    assert reader.get("c").token_version == 0  # still cached
    assert reader.get("c", force_fetch=True).token_version == 1


def test_missing_and_deleted_secrets(store: SecretsTokenStore) -> None:
    with pytest.raises(ConnectionSecretNotFoundError) as caught:
        store.get("nobody")
    assert "nobody" in str(caught.value)
    store.put("conn-1", _secret())
    store.get("conn-1")
    store.delete("conn-1")
    with pytest.raises(ConnectionSecretNotFoundError):
        store.get("conn-1")  # not served from the cache
    store.delete("conn-1")  # idempotent
    store.put("conn-1", _secret(token_version=7))  # re-creating works
    assert store.get("conn-1").token_version == 7


@pytest.mark.parametrize("bad", ["", "../other", "a/b", "x" * 200, "id with space", "-leading"])
def test_connection_ids_are_validated(store: SecretsTokenStore, bad: str) -> None:
    with pytest.raises(ValueError, match="connection id"):
        store.get(bad)
    with pytest.raises(ValueError, match="connection id"):
        validate_connection_id(bad)


def test_secret_model_validation() -> None:
    with pytest.raises(ValidationError):
        _secret(instance_url="javascript:alert(1)")
    with pytest.raises(ValidationError):
        _secret(client_id="")
    pending = ConnectionSecret(client_id="cid", client_secret=SecretStr("s"))
    assert pending.access() is None


@pytest.fixture
def powertools_log() -> Iterator[io.StringIO]:
    """Everything the sfconnector package logs, formatted by Powertools' JSON formatter at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaPowertoolsFormatter())
    package = logging.getLogger("sfconnector")
    previous = package.level
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        package.removeHandler(handler)
        package.setLevel(previous)


def test_secrets_never_in_repr_str_dump_or_logs(
    store: SecretsTokenStore, caplog: pytest.LogCaptureFixture, powertools_log: io.StringIO
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = _secret()
    app_logger = Logger(
        service="sfconnector-test", level="DEBUG", logger_handler=logging.StreamHandler(powertools_log)
    )
    app_logger.info("secret loaded", extra={"secret": secret, "dump": secret.model_dump()})
    app_logger.debug(repr(secret))

    store.put("conn-1", secret)
    loaded = store.get("conn-1")
    store.put("conn-1", loaded.with_tokens(access_token=ACCESS_2, instance_url="https://a.my.salesforce.com"))
    store.get("conn-1", force_fetch=True)
    with pytest.raises(ConnectionSecretNotFoundError) as caught:
        store.get("missing")

    logged = powertools_log.getvalue()
    assert "Stored credentials of connection conn-1" in logged  # we did log, just safely
    surfaces = [
        repr(secret),
        str(secret),
        secret.model_dump_json(),
        str(secret.model_dump()),
        repr(loaded.access()),
        repr(store),
        str(caught.value),
        logged,
        caplog.text,
    ]
    for surface in surfaces:
        for value in SECRET_VALUES:
            assert value not in surface
    assert CLIENT_SECRET in secret.to_storage_json()  # the one explicit reveal, for storage
