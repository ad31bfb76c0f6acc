"""The ports of one Lambda container, built lazily on first use and cached for warm invocations.

Nothing here runs at import: a handler module imports this, and the first request builds the
settings (validated, naming any missing variable), the boto3 clients, the token store and the
Salesforce clients it needs. Later (warm) invocations reuse them, including the pooled
keep-alive httpx client and the describe cache.

Tests use the real thing against local parts: moto for AWS (``mock_aws`` patches botocore, so the
clients built here talk to moto) and the Salesforce emulator (the connection's secret holds the
emulator's instance URL). :func:`reset_runtime` between tests drops every cached port;
:func:`set_runtime` installs a :class:`Runtime` built with explicit parts.

Usage::

    rt = get_runtime()
    client = rt.salesforce(connection_id)   # SalesforceClient with the connection's token provider
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sfconnector.settings import CoreSettings

if TYPE_CHECKING:
    import httpx
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

    from sfconnector.api.idempotency import StateTablePersistence
    from sfconnector.connections import ApiUsageRecorder, ConnectionRepository
    from sfconnector.events import Event, EventPublisher
    from sfconnector.salesforce.client import DescribeCache, RetryPolicy, SalesforceClient, TokenProvider
    from sfconnector.stores.schedules import ScheduleSettings
    from sfconnector.stores.subscriptions import SubscriptionRepository
    from sfconnector.tokens import SecretsTokenStore
    from sfconnector.triggers.poller import PollerPorts, PollerSettings
    from sfconnector.triggers.scheduling import PollingControl
    from sfconnector.triggers.subscriptions import SubscriptionService

__all__ = ["Runtime", "get_runtime", "reset_runtime", "set_runtime"]

MAX_CACHED_CLIENTS = 64
"""Salesforce clients kept per container (one per connection used recently)."""


class Runtime:
    """Lazily built, cached ports. Every argument overrides the corresponding default part."""

    def __init__(
        self,
        *,
        settings: CoreSettings | None = None,
        env: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        token_provider_factory: Callable[[str], TokenProvider] | None = None,
        describe_cache: DescribeCache | None = None,
        retry: RetryPolicy | None = None,
        boto_config: Any = None,
    ) -> None:
        self._settings = settings
        self._env = env
        self._http = http
        self._token_provider_factory = token_provider_factory
        self._describe_cache = describe_cache
        self._retry = retry
        self._boto_config = boto_config
        self._lock = threading.RLock()
        self._clients: OrderedDict[str, SalesforceClient] = OrderedDict()
        self._aws: dict[str, Any] = {}
        self.lambda_context: LambdaContext | None = None
        """The current invocation's context (set by the handler; idempotency uses its deadline)."""

    def __repr__(self) -> str:
        return f"Runtime(clients={len(self._clients)})"

    # ---- configuration ---------------------------------------------------------------------------

    @cached_property
    def settings(self) -> CoreSettings:
        """Validated on first use; a missing variable is a SettingsError naming it."""
        return self._settings or CoreSettings.from_env(self._env)

    # ---- AWS -------------------------------------------------------------------------------------

    def _config(self) -> Any:
        if self._boto_config is None:
            from botocore.config import Config

            # Short timeouts: API Gateway gives the whole request 29 s, Salesforce needs most of it.
            self._boto_config = Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 3, "mode": "standard"},
                tcp_keepalive=True,
            )
        return self._boto_config

    def aws_client(self, service: str) -> Any:
        """A boto3 client for ``service`` in the configured region, built once per container."""
        with self._lock:
            client = self._aws.get(service)
            if client is None:
                import boto3

                factory: Any = boto3.client
                client = factory(service, region_name=self.settings.aws_region, config=self._config())
                self._aws[service] = client
            return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.aws_client("dynamodb")
        return client

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.aws_client("secretsmanager")
        return client

    @property
    def s3(self) -> S3Client:
        client: S3Client = self.aws_client("s3")
        return client

    @property
    def sns(self) -> SNSClient:
        client: SNSClient = self.aws_client("sns")
        return client

    # ---- stores ----------------------------------------------------------------------------------

    @cached_property
    def connections(self) -> ConnectionRepository:
        from sfconnector.connections import ConnectionRepository

        return ConnectionRepository(lambda: self.dynamodb, self.settings.table_name)

    @cached_property
    def usage_recorder(self) -> ApiUsageRecorder:
        """Writes connections' last seen API usage, at most once per connection per interval."""
        from sfconnector.connections import ApiUsageRecorder

        return ApiUsageRecorder(self.connections, float(self.settings.api_usage_interval_seconds))

    @cached_property
    def token_store(self) -> SecretsTokenStore:
        from sfconnector.tokens import SecretsTokenStore

        return SecretsTokenStore(lambda: self.secretsmanager, self.settings.secret_prefix)

    @cached_property
    def publisher(self) -> EventPublisher:
        from sfconnector.events import SnsEventPublisher

        return SnsEventPublisher(lambda: self.sns, self.settings.topic_arn)

    @cached_property
    def idempotency_store(self) -> StateTablePersistence:
        """Powertools idempotency records in the state table (``Idempotency-Key`` of creates)."""
        from sfconnector.api.idempotency import StateTablePersistence

        return StateTablePersistence(self.settings.table_name, boto3_client=self.dynamodb)

    # ---- triggers: subscriptions and their poll schedules ---------------------------------------
    # (one block, so it moves to the composition root as a whole)

    @cached_property
    def subscriptions(self) -> SubscriptionRepository:
        from sfconnector.stores.subscriptions import SubscriptionRepository

        return SubscriptionRepository(lambda: self.dynamodb, self.settings.table_name)

    @property
    def manages_schedules(self) -> bool:
        """True in the functions that own poll schedules (their environment names the schedule
        group: the connections function and the poller). The action functions only flag a
        connection ``needs_reauth``; the poller's next run then disables its schedule."""
        import os

        env = os.environ if self._env is None else self._env
        return bool(env.get("SCHEDULE_GROUP_NAME", "").strip())

    @cached_property
    def schedule_settings(self) -> ScheduleSettings:
        from sfconnector.stores.schedules import ScheduleSettings

        return ScheduleSettings.from_env(self._env)

    @cached_property
    def polling(self) -> PollingControl:
        """Keeps each connection's poll schedule in line with its subscriptions and status."""
        from sfconnector.stores.polling import PollingRepository
        from sfconnector.stores.schedules import PollSchedules
        from sfconnector.triggers.scheduling import PollingControl

        return PollingControl(
            connections=self.connections,
            subscriptions=self.subscriptions,
            polling=PollingRepository(lambda: self.dynamodb, self.settings.table_name),
            schedules=PollSchedules(lambda: self.aws_client("scheduler"), self.schedule_settings),
        )

    @cached_property
    def subscription_service(self) -> SubscriptionService:
        from sfconnector.triggers.subscriptions import SubscriptionService

        return SubscriptionService(
            connections=self.connections,
            subscriptions=self.subscriptions,
            polling=self.polling,
            client_factory=self.salesforce,
            record_usage=self.usage_recorder.record,
        )

    # ---- triggers: the poller's ports (engine; one block) ----------------------------------------

    @cached_property
    def poller_settings(self) -> PollerSettings:
        from sfconnector.triggers.poller import PollerSettings

        return PollerSettings.from_env(self._env)

    @cached_property
    def poller_ports(self) -> PollerPorts:
        """Subscriptions, cursors and lease, the batch publisher (claim checks in the payload
        bucket) and the connections' Salesforce clients; ``poller_clock`` overrides "now"."""
        from sfconnector.events import SnsEventPublisher
        from sfconnector.stores.cursors import CursorStore
        from sfconnector.triggers.poller import PollerPorts

        publisher = SnsEventPublisher(
            lambda: self.sns, self.settings.topic_arn, s3=lambda: self.s3, bucket=self.settings.payload_bucket
        )
        ports = PollerPorts(
            connections=self.connections,
            subscriptions=self.subscriptions,
            cursors=CursorStore(lambda: self.dynamodb, self.settings.table_name),
            publisher=publisher,
            salesforce=self.salesforce,
            # Where schedules are managed (the poller's environment names the group).
            on_idle=self.polling.sync_quietly if self.manages_schedules else None,
        )
        if self.poller_clock is not None:
            ports.clock = self.poller_clock
        return ports

    poller_clock: Callable[[], float] | None = None
    """Tests set it (e.g. to the emulator's org clock) before the first poll."""

    # ---- Salesforce ------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            from sfconnector.salesforce.client import shared_http_client

            self._http = shared_http_client()
        return self._http

    @cached_property
    def describe_cache(self) -> DescribeCache:
        if self._describe_cache is not None:
            return self._describe_cache
        from sfconnector.salesforce.client import DescribeCache

        return DescribeCache(ttl=float(self.settings.describe_ttl_seconds))

    def token_provider(self, connection_id: str) -> TokenProvider:
        """The connection's token provider: reads its secret, refreshes under the refresh lock,
        marks it ``needs_reauth`` when Salesforce rejects the refresh token."""
        if self._token_provider_factory is not None:
            return self._token_provider_factory(connection_id)
        from sfconnector.oauth.lock import RefreshLock
        from sfconnector.oauth.provider import ConnectionTokenProvider

        return ConnectionTokenProvider(
            connection_id,
            store=self.token_store,
            connections=self.connections,
            http=self.http,
            lock=RefreshLock(self.dynamodb, self.settings.table_name),
            # Events are rare (a refresh token revoked): sfconnector.events loads with the first.
            publisher=_DeferredPublisher(lambda: self.publisher),
            on_needs_reauth=self.polling.sync_quietly if self.manages_schedules else None,
        )

    def salesforce(self, connection_id: str) -> SalesforceClient:
        """The Salesforce client of a connection (cached per connection for warm invocations).

        No AWS or Salesforce call happens here: the secret is read on the first request. An
        unknown connection surfaces as ConnectionSecretNotFoundError (404), a connection that must
        be re-authorised as ConnectionNeedsReauthError (401), both without calling Salesforce.
        """
        from sfconnector.tokens import validate_connection_id

        validate_connection_id(connection_id)
        with self._lock:
            client = self._clients.get(connection_id)
            if client is not None:
                self._clients.move_to_end(connection_id)
                return client
        from sfconnector.salesforce.client import SalesforceClient

        client = SalesforceClient(
            self.token_provider(connection_id),
            http=self.http,
            # Describes are per connection: field-level security differs between users of one org.
            org_key=connection_id,
            retry=self._retry,
            describe_cache=self.describe_cache,
        )
        with self._lock:
            self._clients[connection_id] = client
            while len(self._clients) > MAX_CACHED_CLIENTS:
                self._clients.popitem(last=False)
        return client


class _DeferredPublisher:
    """An EventPublisher that obtains the real one when the first event is published."""

    def __init__(self, publisher: Callable[[], EventPublisher]) -> None:
        self._publisher = publisher

    def publish(self, event: Event, attributes: Mapping[str, str] | None = None) -> str:
        return self._publisher().publish(event, attributes)


_current: Runtime | None = None
_current_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The container's runtime (created on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime()
        return _current


def set_runtime(runtime: Runtime) -> Runtime:
    """Install ``runtime`` (tests, local stack); returns it."""
    global _current
    with _current_lock:
        _current = runtime
    return runtime


def reset_runtime() -> None:
    """Forget every cached port (the next request builds them again)."""
    global _current
    with _current_lock:
        _current = None
