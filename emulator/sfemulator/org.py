"""One emulated org: metadata, data, users, OAuth, API accounting, faults, clock and persistence."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sfemulator.bulk import BulkJobs
from sfemulator.clock import Clock, format_datetime
from sfemulator.dml import Dml
from sfemulator.faults import FaultInjector
from sfemulator.ids import IdGenerator, normalize_id
from sfemulator.listviews import ListViewCatalog, load_list_views
from sfemulator.oauth import AccessToken, ConnectedApp, OAuthService, RefreshToken
from sfemulator.query import OrgRecordSource, QueryService
from sfemulator.relay import EventRelay, Writer
from sfemulator.schema import Schema, load_schema
from sfemulator.seed import SALES_USERNAME, seed_demo_org, seed_users
from sfemulator.store import OrgData, Snapshot, blob_bytes
from sfemulator.tooling import ToolingObjects
from sfemulator.versions import DEFAULT_API_VERSION, SERVED_VERSIONS

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_ORG_ID", "Org", "OrgConfig"]

DEFAULT_ORG_ID = "00DHs00000EmuDmMAC"
DEFAULT_CLIENT_ID = "3MVG9EmuLat0rDem0C0nnectedAppK3y.WorkflowConnectorLocalDevelopmentOnly0000000000000000"
# A fixed, public demo value (printed on start); real deployments never see the emulator.
DEFAULT_CLIENT_SECRET = "E4D2C0B1A9F8E7D6C5B4A3928170F6E5D4C3B2A1908F7E6D5C4B3A2918070F6E"  # noqa: S105
DEFAULT_REDIRECT_URIS = [
    "http://localhost:3000/oauth/callback",
    "http://127.0.0.1:3000/oauth/callback",
    "http://localhost:8080/oauth/callback",
    "http://127.0.0.1:8080/oauth/callback",
    "https://login.salesforce.com/services/oauth2/success",
]
STATE_VERSION = 1


class OrgConfig(BaseModel):
    """Everything configurable about one emulated org (the admin API can change some at run time)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    org_id: str = DEFAULT_ORG_ID
    org_name: str = "Emulated Demo Org"
    edition: str = "Developer Edition"
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: SecretStr = SecretStr(DEFAULT_CLIENT_SECRET)
    app_name: str = "Workflow Connector"
    redirect_uris: list[str] = Field(default_factory=lambda: list(DEFAULT_REDIRECT_URIS))
    access_token_lifetime_seconds: int = Field(default=7200, ge=1)
    refresh_token_rotation: bool = False
    daily_api_limit: int = Field(default=15000, ge=0)
    min_query_batch_size: int = Field(default=200, ge=1, le=2000)
    api_version: str = DEFAULT_API_VERSION
    custom_config: Path | None = None
    seed: bool = True
    bulk_hard_delete: bool = True
    """The running user holds "Bulk API Hard Delete" (False: hardDelete jobs are refused)."""
    fault_seed: int = 0
    # Change Data Capture and Event Relay (sfemulator.tooling, sfemulator.relay; docs/emulator.md).
    cdc_entity_limit: int = Field(default=5, ge=0)
    """Entities selectable for CDC across all channels (5 on Developer/Enterprise/Unlimited)."""
    event_delivery_limit: int = Field(default=10000, ge=0)
    """Event deliveries per rolling 24 hours (Developer Edition's 10,000)."""
    event_relay_enabled: bool = True
    """The org has Event Relay (False: EventRelayConfig creation is refused)."""
    customize_application: bool = True
    """The running user holds "Customize Application" (False: Tooling writes are refused)."""
    aws_endpoint_url: str | None = None
    """Where the relay reaches EventBridge: a URL (moto server mode), ``default`` (boto3's own
    endpoints, which an in-process ``moto.mock_aws`` intercepts) or None: no AWS, so nothing leaves
    the emulator (events are still stored and counted)."""

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, value: str) -> str:
        normalized = normalize_id(value)
        if normalized is None or not normalized.startswith("00D"):
            raise ValueError("org_id must be a 15- or 18-character id starting with 00D")
        return normalized

    @field_validator("api_version")
    @classmethod
    def _served_version(cls, value: str) -> str:
        if value not in SERVED_VERSIONS:
            raise ValueError(f"api_version {value} is not a served version (metadata/versions.json)")
        return value


class Org:
    """An org and all its state; every handler holds ``lock`` while it reads or writes."""

    def __init__(self, config: OrgConfig | None = None) -> None:
        self.config = config or OrgConfig()
        self._initial_config = self.config.model_copy()
        self.lock = threading.RLock()
        self.org_id = self.config.org_id
        self.version = self.config.api_version
        self.base_url = "http://127.0.0.1"
        self.clock = Clock()
        self.schema: Schema = load_schema(self.config.custom_config)
        # Ids are unique across emulated orgs too (as on Salesforce): each org starts its counter in
        # its own range, derived from the org id.
        salt = int.from_bytes(hashlib.sha256(self.org_id.encode()).digest()[:4], "big") % (62**3)
        self.ids = IdGenerator(self.org_id[3:5], start=salt * 62**6 + 1)
        self.data = OrgData()
        self.dml = Dml(self.schema, self.data, self.ids, self.clock, self.version)
        self.source = OrgRecordSource(self.schema, self.data)
        self.queries = QueryService(self.source, self.version)
        self.bulk = BulkJobs(self)
        self.list_views: ListViewCatalog = load_list_views(self.schema, self.ids)
        self.oauth = OAuthService(self)
        self.faults = FaultInjector(self.config.fault_seed)
        self.tooling = ToolingObjects()
        self.relay = EventRelay(self)
        self.writer = Writer("")
        """Who writes in the current call (set under the lock by each entry point): CDC headers."""
        self.data.on_commit = self.relay.capture
        self.api_calls = 0
        self._usage_day = self.clock.now().date()
        self.generation = 0
        self.state_saver: Callable[[], None] | None = None
        self.admin_user_id = ""
        self.integration_user_id = ""
        if self.config.seed:
            seed_demo_org(self)
        else:
            seed_users(self)
        self.sales_user_id = self.user_id_for(SALES_USERNAME) or self.admin_user_id
        self.writer = Writer(self.admin_user_id)
        self._register_default_app()
        self._seed: Snapshot = self.data.snapshot(self.ids.counter)
        self._seed_views = self.list_views.copy()
        self.generation = 0

    # -- users ---------------------------------------------------------------------------------
    def user(self, user_id: str) -> dict[str, Any] | None:
        rid = normalize_id(user_id)
        found = self.data.get(rid) if rid else None
        return found[1] if found and found[0] == "User" else None

    def user_id_for(self, username: str | None) -> str | None:
        if not username:
            return None
        for u in self.data.iter("User", include_deleted=False):
            if str(u.get("Username", "")).lower() == username.lower():
                return str(u["Id"])
        return None

    def active_users(self) -> list[dict[str, Any]]:
        return [u for u in self.data.iter("User", include_deleted=False) if u.get("IsActive")]

    def user_active(self, user_id: str) -> bool:
        user = self.user(user_id)
        return bool(user and user.get("IsActive"))

    def identity_document(self, user: dict[str, Any]) -> dict[str, Any]:
        base = self.base_url
        ver = self.version.removeprefix("v")
        org15 = self.org_id
        return {
            "id": f"{base}/id/{org15}/{user['Id']}",
            "asserted_user": True,
            "user_id": user["Id"],
            "organization_id": org15,
            "username": user.get("Username"),
            "nick_name": user.get("CommunityNickname"),
            "display_name": user.get("Name"),
            "email": user.get("Email"),
            "email_verified": True,
            "first_name": user.get("FirstName"),
            "last_name": user.get("LastName"),
            "timezone": user.get("TimeZoneSidKey"),
            "photos": {
                "picture": f"{base}/profilephoto/005/F",
                "thumbnail": f"{base}/profilephoto/005/T",
            },
            "addr_street": user.get("Street"),
            "addr_city": user.get("City"),
            "addr_state": user.get("State"),
            "addr_country": user.get("Country"),
            "addr_zip": user.get("PostalCode"),
            "mobile_phone": user.get("MobilePhone"),
            "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{ver}/{org15[:15]}",
                "metadata": f"{base}/services/Soap/m/{ver}/{org15[:15]}",
                "partner": f"{base}/services/Soap/u/{ver}/{org15[:15]}",
                "rest": f"{base}/services/data/v{{version}}/",
                "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                "search": f"{base}/services/data/v{{version}}/search/",
                "query": f"{base}/services/data/v{{version}}/query/",
                "recent": f"{base}/services/data/v{{version}}/recent/",
                "tooling_soap": f"{base}/services/Soap/T/{ver}/{org15[:15]}",
                "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
                "profile": f"{base}/{user['Id']}",
                "feeds": f"{base}/services/data/v{{version}}/chatter/feeds",
                "groups": f"{base}/services/data/v{{version}}/chatter/groups",
                "users": f"{base}/services/data/v{{version}}/chatter/users",
                "feed_items": f"{base}/services/data/v{{version}}/chatter/feed-items",
                "feed_elements": f"{base}/services/data/v{{version}}/chatter/feed-elements",
                "custom_domain": base,
            },
            "active": bool(user.get("IsActive")),
            "user_type": user.get("UserType") or "STANDARD",
            "language": user.get("LanguageLocaleKey"),
            "locale": user.get("LocaleSidKey"),
            "utcOffset": 0,
            "last_modified_date": user.get("LastModifiedDate"),
            "is_app_installed": True,
        }

    # -- apps ----------------------------------------------------------------------------------
    def _register_default_app(self) -> None:
        self.oauth.register(
            ConnectedApp(
                name=self.config.app_name,
                client_id=self.config.client_id,
                client_secret=self.config.client_secret.get_secret_value(),
                redirect_uris=list(self.config.redirect_uris),
                rotate_refresh_tokens=self.config.refresh_token_rotation,
                client_credentials_user_id=self.integration_user_id or None,
            )
        )

    @property
    def connected_app(self) -> ConnectedApp:
        """The demo Connected App (its ``client_id`` and ``client_secret`` are printed on start)."""
        return self.oauth.apps[self.config.client_id]

    # -- API accounting ------------------------------------------------------------------------
    def _roll_day(self) -> None:
        today = self.clock.now().date()
        if today != self._usage_day:
            self._usage_day = today
            self.api_calls = 0

    def try_count_call(self) -> bool:
        """Count one API call; False (and nothing counted) once the daily allowance is used up."""
        with self.lock:
            self._roll_day()
            if self.api_calls >= self.config.daily_api_limit:
                return False
            self.api_calls += 1
            return True

    def limit_info(self) -> str:
        return f"api-usage={self.api_calls}/{self.config.daily_api_limit}"

    # -- transactions & state ------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: roll back every write made inside when an exception escapes."""
        self.data.begin()
        try:
            yield
        except BaseException:
            self.data.rollback()
            raise
        else:
            self.data.commit()

    def touch(self) -> None:
        self.generation += 1

    def now_text(self) -> str:
        return format_datetime(self.clock.now())

    def reset(self) -> None:
        """Back to the seed: data, users' tokens, apps, usage, faults, clock and configuration."""
        with self.lock:
            self.data.restore(self._seed)
            self.ids.counter = self._seed.id_counter
            self.config = self._initial_config.model_copy()
            self.oauth.clear()
            self._register_default_app()
            self.queries.clear()
            self.bulk.clear()
            self.list_views = self._seed_views.copy()
            self.faults.clear()
            self.tooling.clear()
            self.relay.clear()
            self.writer = Writer(self.admin_user_id)
            self.clock.reset()
            self.api_calls = 0
            self._usage_day = self.clock.now().date()
            self.touch()

    def to_state(self) -> dict[str, Any]:
        """Everything a restart needs, as JSON-compatible data (tokens included: it is a local file)."""
        with self.lock:
            snap = self.data.snapshot(self.ids.counter)
            return {
                "version": STATE_VERSION,
                "org_id": self.org_id,
                "data": {
                    "records": snap.records,
                    "blobs": {
                        k: base64.b64encode(blob_bytes(v)).decode("ascii") for k, v in snap.blobs.items()
                    },
                    "deleted_at": snap.deleted_at,
                    "autonumbers": snap.autonumbers,
                    "id_counter": snap.id_counter,
                },
                "apps": [{**a.public(), "client_secret": a.client_secret} for a in self.oauth.apps.values()],
                "refresh_tokens": [
                    {
                        "token": r.token,
                        "client_id": r.client_id,
                        "user_id": r.user_id,
                        "scopes": r.scopes,
                        "issued_at": r.issued_at.isoformat(),
                    }
                    for r in self.oauth.refresh_tokens.values()
                ],
                "access_tokens": [
                    {
                        "token": a.token,
                        "client_id": a.client_id,
                        "user_id": a.user_id,
                        "scopes": a.scopes,
                        "issued_at": a.issued_at.isoformat(),
                        "expires_at": a.expires_at.isoformat(),
                        "refresh_token": a.refresh_token,
                    }
                    for a in self.oauth.access_tokens.values()
                ],
                "usage": {"api_calls": self.api_calls, "day": self._usage_day.isoformat()},
                "tooling": self.tooling.to_state(),
            }

    def load_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state file version {state.get('version')!r}")
        if state.get("org_id") != self.org_id:
            raise ValueError(f"state file belongs to org {state.get('org_id')}, not {self.org_id}")
        with self.lock:
            d = state["data"]
            self.data.restore(
                Snapshot(
                    records=d["records"],
                    blobs={k: base64.b64decode(v) for k, v in d["blobs"].items()},
                    deleted_at=d["deleted_at"],
                    autonumbers=d["autonumbers"],
                    id_counter=d["id_counter"],
                )
            )
            self.ids.counter = int(d["id_counter"])
            self.oauth.clear()
            for a in state.get("apps", []):
                self.oauth.register(
                    ConnectedApp(
                        name=a["name"],
                        client_id=a["client_id"],
                        client_secret=a["client_secret"],
                        redirect_uris=a["redirect_uris"],
                        scopes=a["scopes"],
                        rotate_refresh_tokens=a["rotate_refresh_tokens"],
                        client_credentials_user_id=a.get("client_credentials_user_id"),
                        require_secret=a.get("require_secret", True),
                        certificate=a.get("certificate"),
                        jwt_user_ids=list(a.get("jwt_user_ids") or []),
                    )
                )
            if self.config.client_id not in self.oauth.apps:
                self._register_default_app()
            for r in state.get("refresh_tokens", []):
                self.oauth.refresh_tokens[r["token"]] = RefreshToken(
                    r["token"],
                    r["client_id"],
                    r["user_id"],
                    r["scopes"],
                    dt.datetime.fromisoformat(r["issued_at"]),
                )
            for a in state.get("access_tokens", []):
                self.oauth.access_tokens[a["token"]] = AccessToken(
                    a["token"],
                    a["client_id"],
                    a["user_id"],
                    a["scopes"],
                    dt.datetime.fromisoformat(a["issued_at"]),
                    dt.datetime.fromisoformat(a["expires_at"]),
                    a.get("refresh_token"),
                )
            usage = state.get("usage", {})
            self.api_calls = int(usage.get("api_calls", 0))
            self._usage_day = dt.date.fromisoformat(usage.get("day", self.clock.now().date().isoformat()))
            self._roll_day()
            # The CDC setup survives a restart; stored change events do not (docs/emulator.md).
            self.tooling.load_state(state.get("tooling") or {})
            self.relay.restore()

    def save(self, path: Path) -> None:
        """Write the state atomically (temp file + rename), readable only by the owner."""
        state = self.to_state()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sfemulator-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, separators=(",", ":"))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: Path) -> None:
        self.load_state(json.loads(path.read_text(encoding="utf-8")))
