"""Builds the connections service from the environment, lazily and once per warm container."""

from __future__ import annotations

import threading
from collections.abc import Callable

import boto3
import httpx

from sfconnector.connections import ConnectionRepository
from sfconnector.events import SnsEventPublisher
from sfconnector.oauth.lock import RefreshLock
from sfconnector.oauth.service import ConnectionService
from sfconnector.oauth.settings import ConnectionsSettings
from sfconnector.oauth.state import OAuthStateStore
from sfconnector.salesforce.client import DescribeCache, shared_http_client
from sfconnector.tokens import SecretsTokenStore

__all__ = ["build_service", "connection_service", "reset_connection_service", "settings"]

_lock = threading.Lock()
_service: ConnectionService | None = None
_settings: ConnectionsSettings | None = None


def build_service(
    config: ConnectionsSettings,
    *,
    http: httpx.Client | None = None,
    session: boto3.session.Session | None = None,
    describe_cache: DescribeCache | None = None,
) -> ConnectionService:
    """Wire the service's ports (boto3 clients are created here, not at import)."""
    session = session or boto3.session.Session(region_name=config.aws_region)
    dynamodb = session.client("dynamodb")
    store = SecretsTokenStore(
        lambda: session.client("secretsmanager"), config.secret_prefix, max_age=config.token_cache_seconds
    )
    return ConnectionService(
        hosts=config.login_hosts(),
        store=store,
        connections=ConnectionRepository(lambda: session.resource("dynamodb"), config.table_name),
        states=OAuthStateStore(dynamodb, config.table_name, ttl_seconds=config.state_ttl_seconds),
        dynamodb=dynamodb,
        table_name=config.table_name,
        http=http or shared_http_client(),
        lock=RefreshLock(dynamodb, config.table_name, ttl_seconds=config.refresh_lock_seconds),
        publisher=SnsEventPublisher(session.client("sns"), config.topic_arn),
        describe_cache=describe_cache or DescribeCache(ttl=config.describe_ttl_seconds),
    )


def settings() -> ConnectionsSettings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = ConnectionsSettings.from_env()
        return _settings


def connection_service(
    factory: Callable[[ConnectionsSettings], ConnectionService] = build_service,
) -> ConnectionService:
    """The container's service, built on first use."""
    global _service
    config = settings()
    with _lock:
        if _service is None:
            _service = factory(config)
        return _service


def reset_connection_service() -> None:
    """Forget the cached settings and service (tests; a new environment takes effect)."""
    global _service, _settings
    with _lock:
        _service = None
        _settings = None
