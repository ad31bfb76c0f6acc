"""Builds the connections service on the container's shared runtime (``sfconnector.runtime``):
the same boto3 clients, token store, connection repository, httpx client, describe cache and token
providers as the action functions. Built lazily on the first request, cached while the runtime is."""

from __future__ import annotations

import threading

from sfconnector.oauth.service import ConnectionService
from sfconnector.oauth.settings import ConnectionsSettings
from sfconnector.oauth.state import OAuthStateStore
from sfconnector.runtime import Runtime, get_runtime
from sfconnector.tokens import guard_botocore_payload_logs

__all__ = ["build_service", "connection_service", "reset_connection_service", "settings"]

_lock = threading.Lock()
_service: tuple[Runtime, ConnectionService] | None = None
_settings: ConnectionsSettings | None = None


def build_service(config: ConnectionsSettings, runtime: Runtime) -> ConnectionService:
    # DynamoDB items written here hold the PKCE verifier: botocore must never log their bodies.
    guard_botocore_payload_logs()
    return ConnectionService(
        hosts=config.login_hosts(),
        store=runtime.token_store,
        connections=runtime.connections,
        states=OAuthStateStore(runtime.dynamodb, config.table_name, ttl_seconds=config.state_ttl_seconds),
        dynamodb=runtime.dynamodb,
        table_name=config.table_name,
        http=runtime.http,
        client_factory=runtime.salesforce,
        # Poll schedules: resumed after a re-authorisation, deleted with the connection.
        on_connected=runtime.polling.sync_quietly if runtime.manages_schedules else None,
        on_deleting=runtime.polling.forget if runtime.manages_schedules else None,
    )


def settings() -> ConnectionsSettings:
    """The connections settings, validated on first use (a SettingsError names what is wrong)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = ConnectionsSettings.from_env()
        return _settings


def connection_service() -> ConnectionService:
    """The container's service (rebuilt when the runtime is replaced, e.g. between tests)."""
    global _service
    config = settings()
    runtime = get_runtime()
    with _lock:
        if _service is None or _service[0] is not runtime:
            _service = (runtime, build_service(config, runtime))
        return _service[1]


def reset_connection_service() -> None:
    """Forget the cached settings and service (a changed environment takes effect)."""
    global _service, _settings
    with _lock:
        _service = None
        _settings = None
