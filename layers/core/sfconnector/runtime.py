"""THE composition root: the ports and services of one Lambda container, built lazily on first
use and cached for warm invocations.

Nothing here runs at import: a handler module imports this, and the first request builds the
settings (validated, naming any missing variable), the boto3 clients, the stores, the Salesforce
clients and the services it needs. Later (warm) invocations reuse them, including the pooled
keep-alive httpx client and the describe cache.

Only the HTTP layer (:mod:`sfconnector.api`) and the function handlers reach the runtime
(:func:`get_runtime`); the services (actions, oauth, triggers) receive their ports as arguments
and never import this module.

Every part is a ``cached_property`` (or a method for per-connection parts). Tests and the local
stack replace parts with :meth:`Runtime.install` (``runtime.install(url_fetcher=...)``) or by
passing them to the constructor; :func:`reset_runtime` between tests drops every cached part and
:func:`set_runtime` installs a :class:`Runtime` built with explicit parts. Tests use the real thing
against local parts: moto for AWS (``mock_aws`` patches botocore, so the clients built here talk
to moto) and the Salesforce emulator (the connection's secret holds the emulator's instance URL).

Adding a port (e.g. the trigger engine's cursor store): one ``cached_property`` below that builds
it from ``self.settings`` and the shared clients, importing its module inside the property (the
module then loads only in the functions that use it); ``install`` accepts it by its name.

Usage::

    rt = get_runtime()
    client = rt.salesforce(connection_id)   # SalesforceClient with the connection's token provider
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self

from sfconnector.settings import CoreSettings

if TYPE_CHECKING:
    import httpx
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient

    from sfconnector.actions.attachments import AttachmentSettings
    from sfconnector.actions.bulk import BulkSettings
    from sfconnector.actions.records import MatchLocker
    from sfconnector.bulkfiles import BulkFiles
    from sfconnector.events import Event, EventPublisher
    from sfconnector.oauth.authorization import AuthorizationService
    from sfconnector.oauth.server import ServerConnections
    from sfconnector.oauth.service import ConnectionService
    from sfconnector.oauth.settings import ConnectionsSettings
    from sfconnector.salesforce.client import DescribeCache, RetryPolicy, SalesforceClient, TokenProvider
    from sfconnector.staging import PayloadStager
    from sfconnector.stores.bulk_jobs import BulkJobRepository
    from sfconnector.stores.connections import ApiUsageRecorder, ConnectionOwners, ConnectionRepository
    from sfconnector.stores.idempotency import StateTablePersistence
    from sfconnector.stores.locks import MatchLock
    from sfconnector.stores.oauth_state import OAuthStateStore
    from sfconnector.stores.schedules import ScheduleSettings
    from sfconnector.stores.subscriptions import SubscriptionRepository
    from sfconnector.stores.tenant_credentials import TenantCredentials
    from sfconnector.stores.tokens import SecretsTokenStore
    from sfconnector.triggers.poller import PollerPorts, PollerSettings
    from sfconnector.triggers.realtime_setup import RealtimeSetupService
    from sfconnector.triggers.relaying import RelayPorts
    from sfconnector.triggers.scheduling import PollingControl
    from sfconnector.triggers.subscriptions import SubscriptionService
    from sfconnector.urlfetch import UrlFetcher

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
        self._clients: OrderedDict[tuple[str | None, str], SalesforceClient] = OrderedDict()
        self._tenant_stores: dict[str, SecretsTokenStore] = {}
        self._aws: dict[str, Any] = {}
        self.lambda_context: LambdaContext | None = None
        """The current invocation's context (set by the handler; idempotency uses its deadline)."""

    def __repr__(self) -> str:
        return f"Runtime(clients={len(self._clients)})"

    def install(self, **parts: Any) -> Self:
        """Replace cached parts by name (tests, the local stack), e.g.
        ``install(url_fetcher=UrlFetcher(UrlFetchSettings(allow_http=True)))``; returns self."""
        for name, value in parts.items():
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise TypeError(f"Runtime has no installable part {name!r}")
            self.__dict__[name] = value
        return self

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
        from sfconnector.stores.connections import ConnectionRepository

        return ConnectionRepository(lambda: self.dynamodb, self.settings.table_name)

    @cached_property
    def connection_owners(self) -> ConnectionOwners:
        """Who owns each connection (the one ownership check of every route)."""
        from sfconnector.stores.connections import ConnectionOwners

        return ConnectionOwners(self.connections, self.settings.unowned_tenant)

    @cached_property
    def tenant_credentials(self) -> TenantCredentials | None:
        """Clients acting as one tenant (TENANT_ACCESS_ROLE_ARN); None: the function's role acts."""
        role = self.settings.tenant_role_arn
        if not role:
            return None
        from sfconnector.stores.tenant_credentials import TenantCredentials

        return TenantCredentials(
            lambda: self.aws_client("sts"), role, region=self.settings.aws_region, config=self._config()
        )

    def token_store_for(self, tenant_id: str | None) -> SecretsTokenStore:
        """The secrets of ``tenant_id``'s connections, read and written with that tenant's
        credentials (the function's own role when tenancy has no access role or no tenant)."""
        credentials = self.tenant_credentials
        if tenant_id is None or credentials is None:
            return self.token_store
        with self._lock:
            store = self._tenant_stores.get(tenant_id)
            if store is None:
                from sfconnector.stores.tokens import SecretsTokenStore

                store = SecretsTokenStore(
                    lambda: credentials.client(tenant_id, "secretsmanager"), self.settings.secret_prefix
                )
                self._tenant_stores[tenant_id] = store
            return store

    @cached_property
    def usage_recorder(self) -> ApiUsageRecorder:
        """Writes connections' last seen API usage, at most once per connection per interval."""
        from sfconnector.stores.connections import ApiUsageRecorder

        return ApiUsageRecorder(self.connections, float(self.settings.api_usage_interval_seconds))

    @cached_property
    def token_store(self) -> SecretsTokenStore:
        from sfconnector.stores.tokens import SecretsTokenStore

        return SecretsTokenStore(
            lambda: self.secretsmanager,
            self.settings.secret_prefix,
            kms_key_id=self.settings.secrets_kms_key_id or None,
        )

    @cached_property
    def publisher(self) -> EventPublisher:
        from sfconnector.events import SnsEventPublisher

        return SnsEventPublisher(lambda: self.sns, self.settings.topic_arn)

    @cached_property
    def idempotency_store(self) -> StateTablePersistence:
        """Powertools idempotency records in the state table (``Idempotency-Key`` of creates)."""
        from sfconnector.stores.idempotency import StateTablePersistence

        return StateTablePersistence(self.settings.table_name, boto3_client=self.dynamodb)

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

    def token_provider(self, connection_id: str, tenant_id: str | None = None) -> TokenProvider:
        """The connection's token provider: reads its secret (as ``tenant_id``, the connection's
        owner, when given), refreshes under the refresh lock, marks it ``needs_reauth`` when
        Salesforce rejects the refresh token."""
        if self._token_provider_factory is not None:
            return self._token_provider_factory(connection_id)
        from sfconnector.oauth.hosts import SalesforceHosts
        from sfconnector.oauth.provider import ConnectionTokenProvider
        from sfconnector.stores.refresh_lock import RefreshLock

        return ConnectionTokenProvider(
            connection_id,
            store=self.token_store_for(tenant_id),
            connections=self.connections,
            http=self.http,
            lock=RefreshLock(self.dynamodb, self.settings.table_name),
            # Tokens go to Salesforce's hosts only, whatever a stored URL says.
            hosts=SalesforceHosts.from_settings(self.settings),
            # Events are rare (a refresh token revoked): sfconnector.events loads with the first.
            publisher=_DeferredPublisher(lambda: self.publisher),
            # The connection's poll schedule is paused with it (where schedules are managed).
            on_needs_reauth=self.polling.sync_quietly if self.manages_schedules else None,
        )

    @cached_property
    def match_lock(self) -> MatchLock:
        """Serialises the upserts of one match value (by a field that is not an External ID)."""
        from sfconnector.stores.locks import MatchLock

        return MatchLock(lambda: self.dynamodb, self.settings.table_name)

    def match_locker(self, connection_id: str) -> MatchLocker:
        """The record services' ``match_lock`` port for one connection."""
        from sfconnector.stores.locks import match_value_key

        lock = self.match_lock

        def locker(sobject: str, field: str, value: object) -> AbstractContextManager[object]:
            return lock.held(connection_id, match_value_key(sobject, field, value))

        return locker

    def salesforce(self, connection_id: str, tenant_id: str | None = None) -> SalesforceClient:
        """The Salesforce client of a connection (cached per connection for warm invocations).
        ``tenant_id`` (the connection's owner, checked by the caller) scopes its secret reads.

        No AWS or Salesforce call happens here: the secret is read on the first request. An
        unknown connection surfaces as ConnectionSecretNotFoundError (404), a connection that must
        be re-authorised as ConnectionNeedsReauthError (401), both without calling Salesforce.
        """
        from sfconnector.stores.tokens import validate_connection_id

        validate_connection_id(connection_id)
        key = (tenant_id if self.tenant_credentials is not None else None, connection_id)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        from sfconnector.salesforce.client import SalesforceClient

        client = SalesforceClient(
            self.token_provider(connection_id, key[0]),
            http=self.http,
            # Describes are per connection: field-level security differs between users of one org.
            org_key=connection_id,
            retry=self._retry,
            describe_cache=self.describe_cache,
        )
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > MAX_CACHED_CLIENTS:
                self._clients.popitem(last=False)
        return client

    # ---- attachments (the attachments family's function) -----------------------------------------
    # The fetcher and the stager are built (and their modules imported) by the first request that
    # needs them, and build their own clients lazily too: an upload from base64 or listing ids never
    # loads the downloader or the stager, never creates an S3 client.

    @cached_property
    def attachment_settings(self) -> AttachmentSettings:
        from sfconnector.actions.attachments import AttachmentSettings

        return AttachmentSettings.from_env(self._env)

    @cached_property
    def attachment_inline_limit(self) -> int | None:
        """Largest content returned inline; None: what fits a Lambda response."""
        return None

    @cached_property
    def url_fetcher(self) -> UrlFetcher:
        """The SSRF-guarded downloader of attachment URLs."""
        from sfconnector.urlfetch import UrlFetcher, UrlFetchSettings

        settings = self.attachment_settings
        return UrlFetcher(
            UrlFetchSettings(max_bytes=settings.max_bytes, total_timeout=settings.fetch_timeout_seconds)
        )

    @cached_property
    def payload_stager(self) -> PayloadStager:
        """Content too big for a Lambda response -> the payload bucket + a presigned URL."""
        from sfconnector.staging import PayloadStager, sigv4_s3_client

        settings = self.attachment_settings
        region = self.settings.aws_region

        def s3_client() -> Any:
            # Not the runtime's shared client: presigned URLs must be SigV4 (KMS-encrypted objects
            # need it, and us-east-1 otherwise signs the legacy way).
            return sigv4_s3_client(region=region)

        return PayloadStager(
            self.settings.payload_bucket,
            s3_factory=s3_client,
            url_ttl_seconds=settings.url_ttl_seconds,
            kms_key_id=settings.payload_kms_key_id,
        )

    # ---- bulk jobs (the bulk function and its watcher) --------------------------------------------

    @cached_property
    def bulk_jobs(self) -> BulkJobRepository:
        from sfconnector.stores.bulk_jobs import BulkJobRepository

        return BulkJobRepository(lambda: self.dynamodb, self.settings.table_name)

    @cached_property
    def bulk_files(self) -> BulkFiles:
        """The bulk jobs' CSV inputs and results in the payload bucket (presigned URLs: SigV4)."""
        from sfconnector.bulkfiles import BulkFiles
        from sfconnector.staging import sigv4_s3_client

        settings = self.attachment_settings
        region = self.settings.aws_region
        return BulkFiles(
            self.settings.payload_bucket,
            s3_factory=lambda: sigv4_s3_client(region=region),
            url_ttl_seconds=settings.url_ttl_seconds,
            kms_key_id=settings.payload_kms_key_id,
        )

    @cached_property
    def bulk_settings(self) -> BulkSettings:
        from sfconnector.actions.bulk import BulkSettings

        return BulkSettings()

    # ---- connections (the connections function) --------------------------------------------------

    @cached_property
    def connections_settings(self) -> ConnectionsSettings:
        """The core settings plus the OAuth ones, validated on first use."""
        from sfconnector.oauth.settings import ConnectionsSettings

        return ConnectionsSettings.from_env(self._env)

    @cached_property
    def oauth_states(self) -> OAuthStateStore:
        from sfconnector.stores.oauth_state import OAuthStateStore

        config = self.connections_settings
        return OAuthStateStore(self.dynamodb, config.table_name, ttl_seconds=config.state_ttl_seconds)

    @cached_property
    def authorization(self) -> AuthorizationService:
        """Connect, callback (the OAuth web-server flow with PKCE)."""
        from sfconnector.oauth.authorization import AuthorizationService
        from sfconnector.stores.tokens import guard_botocore_payload_logs

        # DynamoDB items written here hold the PKCE verifier: botocore must never log their bodies.
        guard_botocore_payload_logs()
        return AuthorizationService(
            hosts=self.connections_settings.login_hosts(),
            store=self.token_store,
            connections=self.connections,
            states=self.oauth_states,
            http=self.http,
            # A re-authorised connection's polling resumes.
            on_connected=self.polling.sync_quietly if self.manages_schedules else None,
        )

    @cached_property
    def server_connections(self) -> ServerConnections:
        """Server-to-server connections (the JWT bearer and client credentials flows)."""
        from sfconnector.oauth.server import ServerConnections
        from sfconnector.stores.tokens import guard_botocore_payload_logs

        guard_botocore_payload_logs()  # the secret written here holds a private key
        return ServerConnections(
            hosts=self.connections_settings.login_hosts(),
            store=self.token_store,
            connections=self.connections,
            http=self.http,
            # A reconnected connection's polling resumes.
            on_connected=self.polling.sync_quietly if self.manages_schedules else None,
        )

    @cached_property
    def connection_admin(self) -> ConnectionService:
        """List, inspect, re-authorise, delete connections; describes for mapping UIs."""
        from sfconnector.oauth.service import ConnectionService

        return ConnectionService(
            authorization=self.authorization,
            store=self.token_store,
            connections=self.connections,
            http=self.http,
            client_factory=self.salesforce,
            usage=self.usage_recorder,
            owners=self.connection_owners,
            # Its poll schedule and its real-time relay are deleted with the connection.
            on_deleting=self._forget_triggers,
        )

    def _forget_triggers(self, connection_id: str) -> None:
        if self.manages_schedules:
            self.polling.forget(connection_id)
        self.realtime_setup.forget(connection_id, lambda: self.salesforce(connection_id))

    # ---- triggers (sfconnector.triggers) ---------------------------------------------------------
    # The trigger engine's ports: the subscription repository and the cursor store (state table,
    # under CONNECTION#<cid>), the poll schedules (EventBridge Scheduler) and the batch publisher.
    # The connections' hooks into them (on_connected, on_deleting, on_needs_reauth) are wired above
    # only where ``manages_schedules``.

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
        from sfconnector.triggers.subscriptions import SubscriptionLimits, SubscriptionService

        return SubscriptionService(
            connections=self.connections,
            subscriptions=self.subscriptions,
            polling=self.polling,
            client_factory=self.salesforce,
            record_usage=self.usage_recorder.record,
            limits=SubscriptionLimits.from_env(self._env),
        )

    # ---- triggers: real-time setup (CDC through Event Relay; /connections/{cid}/realtime) --------

    @cached_property
    def realtime_setup(self) -> RealtimeSetupService:
        """The org's CDC channel and relay (Tooling API), the partner bus and its rule into the
        relay queue (EventBridge), the source -> connection binding (state table)."""
        from sfconnector.stores.partner_bus import PartnerBus
        from sfconnector.stores.realtime import RelayBindings
        from sfconnector.stores.relay_stats import RelayStats
        from sfconnector.triggers.realtime_setup import RealtimePorts, RealtimeSettings, RealtimeSetupService

        settings = RealtimeSettings.from_env(self._env)
        return RealtimeSetupService(
            RealtimePorts(
                connections=self.connections,
                subscriptions=self.subscriptions.list,
                bindings=RelayBindings(lambda: self.dynamodb, self.settings.table_name),
                bus=PartnerBus(lambda: self.aws_client("events")),
                queue_arn=settings.relay_queue_arn,
                usage=self.usage_recorder,
                source_wait_seconds=settings.source_wait_seconds,
                stats=RelayStats(lambda: self.dynamodb, self.settings.table_name),
            )
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

    # ---- triggers: the relay's ports (change events from Salesforce's Event Relay; one block) ----

    @cached_property
    def relay_ports(self) -> RelayPorts:
        """The source bindings, the connections and subscriptions, the relayed-seen set (the
        cursors' partition), the poller's batch publisher (its own instance: the outbox is the
        poller's) and the connections' Salesforce clients (gap re-reads)."""
        from sfconnector.events import SnsEventPublisher
        from sfconnector.stores.cursors import CursorStore
        from sfconnector.stores.realtime import RelayBindings
        from sfconnector.stores.relay_stats import RelayStats
        from sfconnector.stores.relayed import RelayedSeen
        from sfconnector.triggers.relaying import RelayPorts

        publisher = SnsEventPublisher(
            lambda: self.sns, self.settings.topic_arn, s3=lambda: self.s3, bucket=self.settings.payload_bucket
        )
        return RelayPorts(
            bindings=RelayBindings(lambda: self.dynamodb, self.settings.table_name),
            connections=self.connections,
            subscriptions=self.subscriptions,
            relayed=RelayedSeen(lambda: self.dynamodb, self.settings.table_name),
            publisher=publisher,
            salesforce=self.salesforce,
            cursors=CursorStore(lambda: self.dynamodb, self.settings.table_name),
            kicks=self.polling.schedules if self.manages_schedules else None,
            intervals=self.polling.polling.interval_minutes if self.manages_schedules else None,
            kick_delay=self.poller_settings.reconcile_grace_seconds + 5,
            stats=RelayStats(lambda: self.dynamodb, self.settings.table_name),
            # The lag is relayed time - commit time: tests move both clocks with the emulator's.
            clock=lambda: (self.poller_clock or time.time)(),
        )


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
