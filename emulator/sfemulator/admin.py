"""The emulator's own admin API under ``/__emulator__/`` (not part of Salesforce; never counted).

Tests and the local stack use it to reset the org, read the API-call counter, inject faults, move
the clock, expire sessions, exhaust the daily limit, revoke refresh tokens, mint tokens without the
browser dance, register Connected Apps and write records as another user or in the past
("late commits": a long transaction's SystemModstamp lies before its commit).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sfemulator.clock import format_datetime, parse_datetime
from sfemulator.errors import ApiError
from sfemulator.faults import FaultSpec
from sfemulator.ids import normalize_id
from sfemulator.listviews import LISTVIEW_PREFIX, ListViewSpec, build_list_view
from sfemulator.oauth import DEFAULT_SCOPES, ConnectedApp, TokenError, public_key_problem
from sfemulator.relay import RelayFaultSpec, Writer
from sfemulator.wire import Request, Response

if TYPE_CHECKING:
    from sfemulator.org import Org

__all__ = ["AdminApi"]

PREFIX = "/__emulator__"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UsageBody(_Body):
    api_calls: int = Field(ge=0)


class ConfigBody(_Body):
    access_token_lifetime_seconds: int | None = Field(default=None, ge=1)
    refresh_token_rotation: bool | None = None
    daily_api_limit: int | None = Field(default=None, ge=0)
    min_query_batch_size: int | None = Field(default=None, ge=1, le=2000)
    bulk_hard_delete: bool | None = None
    cdc_entity_limit: int | None = Field(default=None, ge=0)
    event_delivery_limit: int | None = Field(default=None, ge=0)
    event_relay_enabled: bool | None = None
    customize_application: bool | None = None
    aws_endpoint_url: str | None = Field(default=None, max_length=2000)
    """A URL, ``default`` (boto3's endpoints: in-process moto) or "" (no AWS)."""


class ClockBody(_Body):
    now: str | None = None
    advance_seconds: float | None = None
    frozen: bool | None = None
    reset: bool = False


class TokenBody(_Body):
    username: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    scopes: list[str] | None = None


class RevokeBody(_Body):
    refresh_token: str | None = None
    user_id: str | None = None
    username: str | None = None


class AppBody(_Body):
    name: str = Field(min_length=1, max_length=255)
    redirect_uris: list[str] = Field(min_length=1)
    client_id: str | None = Field(default=None, min_length=8, max_length=255)
    client_secret: str | None = Field(default=None, min_length=8, max_length=255)
    scopes: list[str] = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    rotate_refresh_tokens: bool = False
    client_credentials_username: str | None = None
    require_secret: bool = True
    certificate: str | None = Field(default=None, max_length=20000)
    jwt_usernames: list[str] = Field(default_factory=list)


class AppPatchBody(_Body):
    """Server-to-server settings of a registered app (the local stack sets them on the demo app)."""

    certificate: str | None = Field(default=None, max_length=20000)
    jwt_usernames: list[str] | None = None
    client_credentials_username: str | None = None
    disable_client_credentials: bool = False


class DmlBody(_Body):
    operation: Literal["insert", "update", "delete", "undelete"]
    sobject: str
    id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    username: str | None = None
    seconds_ago: float = Field(default=0, ge=0)


class ListViewBody(ListViewSpec):
    """A list view to create, or to change (same sObject and developerName: same id, new query)."""

    sobject: str


def _ok(obj: Any, status: int = 200) -> Response:
    return Response.json(status, obj)


def _bad(message: str, status: int = 400) -> Response:
    return Response.json(status, {"error": message})


class AdminApi:
    def __init__(self, org: Org) -> None:
        self.org = org

    def _parse(self, model: type[BaseModel], req: Request) -> Any:
        text = req.body.decode("utf-8", "replace").strip() or "{}"
        try:
            return model.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise _AdminError(f"body is not JSON: {exc.msg}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise _AdminError(problems) from None

    def _user(self, username: str | None, user_id: str | None) -> str:
        org = self.org
        if user_id:
            if org.user(user_id) is None:
                raise _AdminError(f"user_id: no such user {user_id}", 404)
            return str(org.user(user_id)["Id"])  # type: ignore[index]
        if username:
            found = org.user_id_for(username)
            if found is None:
                raise _AdminError(f"username: no such user {username}", 404)
            return found
        return org.admin_user_id

    def handle(self, req: Request) -> Response:
        try:
            with self.org.lock:
                return self._route(req)
        except _AdminError as exc:
            return _bad(exc.message, exc.status)
        except TokenError as exc:
            return exc.response()
        except ApiError as exc:
            return Response.json(exc.status, exc.body())

    def _route(self, req: Request) -> Response:
        org = self.org
        path = req.path[len(PREFIX) :].strip("/")
        m = req.method
        if path == "health" and m == "GET":
            return _ok({"status": "ok", "org_id": org.org_id})
        if path == "org" and m == "GET":
            return _ok(
                {
                    "org_id": org.org_id,
                    "base_url": org.base_url,
                    "api_version": org.version,
                    "admin_user_id": org.admin_user_id,
                    "integration_user_id": org.integration_user_id,
                    "sales_user_id": org.sales_user_id,
                    "users": [
                        {"id": u["Id"], "username": u["Username"], "name": u["Name"], "active": u["IsActive"]}
                        for u in org.data.iter("User", include_deleted=False)
                    ],
                    "apps": [a.public() for a in org.oauth.apps.values()],
                    "config": org.config.model_dump(mode="json", exclude={"client_secret"}),
                }
            )
        if path == "reset" and m == "POST":
            org.reset()
            return _ok({"reset": True})
        if path == "usage":
            if m == "GET":
                org._roll_day()
                return _ok(
                    {
                        "api_calls": org.api_calls,
                        "max": org.config.daily_api_limit,
                        "remaining": max(org.config.daily_api_limit - org.api_calls, 0),
                    }
                )
            if m == "POST":
                org.api_calls = self._parse(UsageBody, req).api_calls
                return _ok({"api_calls": org.api_calls})
            if m == "DELETE":
                org.api_calls = 0
                return _ok({"api_calls": 0})
        if path == "limits/exhaust" and m == "POST":
            org.api_calls = org.config.daily_api_limit
            return _ok({"api_calls": org.api_calls, "max": org.config.daily_api_limit})
        if path == "config" and m in ("POST", "PATCH"):
            body = self._parse(ConfigBody, req)
            for key, value in body.model_dump(exclude_none=True).items():
                if key == "aws_endpoint_url":
                    value = value or None
                    org.relay.use_endpoint(value)
                setattr(org.config, key, value)
                if key == "refresh_token_rotation":
                    app = org.oauth.apps.get(org.config.client_id)
                    if app is not None:
                        app.rotate_refresh_tokens = bool(value)
            return _ok(org.config.model_dump(mode="json", exclude={"client_secret"}))
        if path == "faults":
            if m == "GET":
                return _ok({"faults": org.faults.list()})
            if m == "POST":
                return _ok(org.faults.add(self._parse(FaultSpec, req)), 201)
            if m == "DELETE":
                org.faults.clear()
                return _ok({"faults": []})
        if path.startswith("faults/") and m == "DELETE":
            ident = path.split("/", 1)[1]
            if not ident.isdigit() or not org.faults.remove(int(ident)):
                return _bad(f"no fault {ident}", 404)
            return _ok({"removed": int(ident)})
        if path.startswith("relay"):
            return self._relay(path, req)
        if path == "sessions/expire" and m == "POST":
            return _ok({"expired": org.oauth.expire_all()})
        if path == "tokens" and m == "POST":
            body = self._parse(TokenBody, req)
            user_id = self._user(body.username, body.user_id)
            return _ok(org.oauth.mint(user_id, body.client_id, body.scopes))
        if path == "tokens/revoke" and m == "POST":
            body = self._parse(RevokeBody, req)
            if body.refresh_token:
                if not org.oauth.revoke_refresh(body.refresh_token):
                    return _bad("unknown refresh token", 404)
                org.touch()
                return _ok({"revoked": 1})
            if body.user_id or body.username:
                count = org.oauth.revoke_user(self._user(body.username, body.user_id))
                org.touch()
                return _ok({"revoked": count})
            return _bad("give refresh_token, user_id or username")
        if path == "clock":
            if m == "GET":
                return _ok(self._clock_state())
            if m == "POST":
                body = self._parse(ClockBody, req)
                if body.reset:
                    org.clock.reset()
                if body.now is not None:
                    instant = parse_datetime(body.now)
                    if instant is None:
                        return _bad("now: not an ISO 8601 datetime")
                    org.clock.set(instant, frozen=bool(body.frozen))
                elif body.frozen is not None:
                    org.clock.set(org.clock.now(), frozen=body.frozen)
                if body.advance_seconds is not None:
                    org.clock.advance(body.advance_seconds)
                return _ok(self._clock_state())
        if path == "apps":
            if m == "GET":
                return _ok({"apps": [a.public() for a in org.oauth.apps.values()]})
            if m == "POST":
                body = self._parse(AppBody, req)
                run_as = (
                    self._user(body.client_credentials_username, None)
                    if body.client_credentials_username
                    else None
                )
                if body.certificate is not None and (problem := public_key_problem(body.certificate)):
                    return _bad(problem)
                app = ConnectedApp(
                    name=body.name,
                    client_id=body.client_id
                    or "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "z"),
                    client_secret=body.client_secret or secrets.token_hex(32).upper(),
                    redirect_uris=body.redirect_uris,
                    scopes=body.scopes,
                    rotate_refresh_tokens=body.rotate_refresh_tokens,
                    client_credentials_user_id=run_as,
                    require_secret=body.require_secret,
                    certificate=body.certificate,
                    jwt_user_ids=[self._user(name, None) for name in body.jwt_usernames],
                )
                if app.client_id in org.oauth.apps:
                    return _bad(f"client_id {app.client_id} is already registered", 409)
                org.oauth.register(app)
                org.touch()
                # The secret is shown once, on registration, as Salesforce's setup page does.
                return _ok({**app.public(), "client_secret": app.client_secret}, 201)
        if path.startswith("apps/") and m == "PATCH":
            app = org.oauth.apps.get(path.removeprefix("apps/"))
            if app is None:
                return _bad("no such app", 404)
            patch = self._parse(AppPatchBody, req)
            if patch.certificate is not None:
                if problem := public_key_problem(patch.certificate):
                    return _bad(problem)
                app.certificate = patch.certificate
            if patch.jwt_usernames is not None:
                app.jwt_user_ids = [self._user(name, None) for name in patch.jwt_usernames]
            if patch.client_credentials_username is not None:
                app.client_credentials_user_id = self._user(patch.client_credentials_username, None)
            if patch.disable_client_credentials:
                app.client_credentials_user_id = None
            org.touch()
            return _ok(app.public())
        if path == "oauth/grants" and m == "GET":
            return _ok({"grants": dict(org.oauth.grants)})
        if path in ("dml", "late-commit") and m == "POST":
            body = self._parse(DmlBody, req)
            if path == "late-commit" and body.seconds_ago <= 0:
                return _bad("seconds_ago: a late commit needs seconds_ago > 0")
            return self._dml(body)
        if path == "listviews" and m == "POST":
            return self._list_view(self._parse(ListViewBody, req))
        if path.startswith("listviews/") and m == "DELETE":
            ident = normalize_id(path.split("/", 1)[1]) or ""
            if not org.list_views.remove(ident):
                return _bad(f"no list view {path.split('/', 1)[1]}", 404)
            return _ok({"removed": ident})
        if path == "save" and m == "POST":
            saver = getattr(org, "state_saver", None)
            if saver is None:
                return _bad("no state file configured", 409)
            saver()
            return _ok({"saved": True})
        return _bad(f"no admin endpoint {m} {req.path}", 404)

    def _relay(self, path: str, req: Request) -> Response:
        """Event Relay's state, faults and a flush that waits for queued deliveries (tests)."""
        relay = self.org.relay
        m = req.method
        if path == "relay" and m == "GET":
            relay.refresh_feedback()
            return _ok(relay.status())
        if path == "relay/flush" and m == "POST":
            done = relay.flush()
            return _ok({"flushed": done, **relay.status()}, 200 if done else 504)
        if path == "relay/faults":
            if m == "GET":
                return _ok({"faults": relay.status()["faults"]})
            if m == "POST":
                return _ok(relay.add_fault(self._parse(RelayFaultSpec, req)), 201)
            if m == "DELETE":
                relay.remove_faults()
                return _ok({"faults": []})
        if path.startswith("relay/events/") and m == "GET":
            return _ok({"events": relay.stored(path.removeprefix("relay/events/"))})
        return _bad(f"no admin endpoint {m} {req.path}", 404)

    def _list_view(self, body: ListViewBody) -> Response:
        org = self.org
        sobj = org.schema.get(body.sobject)
        if sobj is None:
            return _bad(f"sobject: unknown sObject {body.sobject}", 404)
        existing = org.list_views.named(sobj.name, body.developerName)
        spec = ListViewSpec.model_validate(body.model_dump(exclude={"sobject"}))
        view_id = existing.id if existing is not None else org.ids.new(LISTVIEW_PREFIX)
        try:
            view = build_list_view(org.schema, sobj, spec, view_id)
        except ValueError as exc:
            return _bad(str(exc))
        org.list_views.put(view)
        return _ok(
            {**view.summary(org.version), "query": view.query, "created": existing is None},
            201 if existing is None else 200,
        )

    def _clock_state(self) -> dict[str, Any]:
        now = self.org.clock.now()
        return {"now": now.isoformat(), "salesforce": format_datetime(now), "frozen": self.org.clock.frozen}

    def _dml(self, body: DmlBody) -> Response:
        org = self.org
        sobj = org.schema.get(body.sobject)
        if sobj is None:
            return _bad(f"sobject: unknown sObject {body.sobject}", 404)
        user_id = self._user(body.username, None)
        stamp = org.clock.now() - dt.timedelta(seconds=body.seconds_ago)
        org.writer = Writer(user_id)
        with org.transaction():
            if body.operation == "insert":
                rid = org.dml.insert(sobj, body.fields, user_id=user_id, stamp=stamp)
            else:
                rid_norm = normalize_id(body.id or "")
                if rid_norm is None:
                    return _bad("id: a valid record id is required")
                rid = rid_norm
                if body.operation == "update":
                    org.dml.update(sobj, rid, body.fields, user_id=user_id, stamp=stamp)
                elif body.operation == "undelete":
                    org.dml.undelete(sobj, rid, user_id=user_id, stamp=stamp)
                else:
                    org.dml.delete(sobj, rid, user_id=user_id, stamp=stamp)
        org.touch()
        found = org.data.get(rid)
        record = found[1] if found else {}
        return _ok(
            {
                "id": rid,
                "SystemModstamp": record.get("SystemModstamp"),
                "LastModifiedDate": record.get("LastModifiedDate"),
                "CreatedDate": record.get("CreatedDate"),
            },
            201 if body.operation == "insert" else 200,
        )


class _AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
