"""The emulator's request router: OAuth, identity, REST (authenticated and counted), admin, faults."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from sfemulator.admin import PREFIX as ADMIN_PREFIX
from sfemulator.admin import AdminApi
from sfemulator.calls import CallContext, Result, Upload
from sfemulator.errors import ApiError
from sfemulator.faults import FaultHit
from sfemulator.relay import Writer
from sfemulator.rest import RestApi
from sfemulator.soap import SOAP_PATH, SoapApi
from sfemulator.store import FileBlob
from sfemulator.wire import Request, Response, dumps

if TYPE_CHECKING:
    from sfemulator.org import Org

__all__ = ["EmulatorApp"]

log = logging.getLogger("sfemulator")
_DATA = re.compile(r"^/services/data/(v\d{2,3}\.\d)(?:/(.*))?$")
_IDENTITY = re.compile(r"^/id/([A-Za-z0-9]{15,18})/([A-Za-z0-9]{15,18})/?$")
_INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
_LIMIT_EXCEEDED = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
_COMPOSITE = re.compile(r"^/services/data/v\d{2,3}\.\d/composite/?$")
_NOT_FOUND_HTML = (
    "<html><head><title>Page Not Found</title></head><body><h1>URL No Longer Exists</h1>"
    "<p>You have attempted to reach a URL that no longer exists on salesforce.com.</p></body></html>"
)


class EmulatorApp:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.rest = RestApi(org)
        self.admin = AdminApi(org)
        self.soap = SoapApi(org)

    def keeps(self, path: Path) -> bool:
        """Whether the org stores a body in this spooled upload (else the server deletes it)."""
        with self.org.lock:
            return self.org.data.keeps(path)

    def handle(self, req: Request) -> Response:
        path = req.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self.admin.handle(req)
        faults = self.org.faults
        rest = _DATA.match(path) is not None
        subs = _subrequests(req) if rest and faults.wants_subrequests else ()
        delay, fault = faults.decide(req.method, path, rest=rest, subrequests=subs)
        if delay:
            time.sleep(delay)
        if fault is not None:
            return self._fault(fault)
        try:
            return self._route(req)
        except Exception:
            log.exception("unexpected error handling %s %s", req.method, path)
            return Response.json(
                500,
                [
                    {
                        "message": "An unexpected error occurred. Please include this ErrorId if you contact "
                        "support: 0000000000-00000 (0000000000)",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
            )

    def _fault(self, fault: FaultHit) -> Response:
        """The answer to a request a fault caught (never counted, as Salesforce counts no outage)."""
        org = self.org
        if fault.kind == "session_expired":
            with org.lock:
                org.oauth.expire_all()
                org.touch()
            return Response.json(401, _INVALID_SESSION, [("WWW-Authenticate", "Token")])
        if fault.kind == "limit_exceeded":
            with org.lock:
                org.api_calls = max(org.api_calls, org.config.daily_api_limit)
                limit = org.limit_info()
            return Response.json(403, _LIMIT_EXCEEDED, [("Sforce-Limit-Info", limit)])
        assert fault.response is not None
        return fault.response

    def _route(self, req: Request) -> Response:
        path = req.path
        org = self.org
        if path.startswith("/services/oauth2/"):
            endpoint = path[len("/services/oauth2/") :].rstrip("/")
            with org.lock:
                if endpoint == "authorize" and req.method in ("GET", "POST"):
                    return org.oauth.authorize(req)
                if endpoint == "token" and req.method == "POST":
                    return org.oauth.token(req)
                if endpoint == "revoke" and req.method in ("GET", "POST"):
                    return org.oauth.revoke(req)
                if endpoint == "userinfo" and req.method in ("GET", "POST"):
                    return org.oauth.userinfo(req)
            return Response.html(404, _NOT_FOUND_HTML)
        m = _IDENTITY.match(path)
        if m and req.method in ("GET", "POST"):
            with org.lock:
                return org.oauth.identity(req, m.group(1), m.group(2))
        if path in ("/services/data", "/services/data/"):
            if req.method not in ("GET", "HEAD"):
                return Response.json(
                    405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": "HTTP Method not allowed"}]
                )
            return Response.json(200, self.rest.versions(org.base_url))
        m = _DATA.match(req.raw_path or path)
        if m:
            return self._rest(req, m.group(1), m.group(2) or "")
        if SOAP_PATH.match(path):
            return self.soap.handle(req)
        return Response.html(404, _NOT_FOUND_HTML)

    def _rest(self, req: Request, version: str, rest_path: str) -> Response:
        org = self.org
        with org.lock:
            session = org.oauth.authenticate(req.header("authorization"))
            if session is None or not org.user_active(session.user_id):
                return Response.json(401, _INVALID_SESSION, [("WWW-Authenticate", "Token")])
            if not org.try_count_call():
                return Response.json(403, _LIMIT_EXCEEDED, [("Sforce-Limit-Info", org.limit_info())])
            ctx = CallContext(
                user_id=session.user_id, version=version, query_options=req.header("sforce-query-options")
            )
            org.writer = Writer.from_call(session.user_id, "rest", version, req.header("sforce-call-options"))
            if req.body_file is not None:
                ctx.upload = Upload(req.header("content-type") or "", req.body_file, req.body_size)
            # Split before decoding: an external id value may contain an encoded "/".
            parts = [unquote(p) for p in rest_path.split("/")] if rest_path else []
            try:
                result = self.rest.dispatch(req.method, parts, req.query, req.body, ctx)
            except ApiError as exc:
                result = Result(exc.status, exc.body())
            limit = org.limit_info()
        headers = [(k, v) for k, v in result.headers.items()]
        headers.append(("Sforce-Limit-Info", limit))
        if result.raw is not None:
            headers.append(("Content-Type", result.raw_type or "application/octet-stream"))
            if isinstance(result.raw, FileBlob):
                return Response(result.status, b"", headers, file=result.raw)
            return Response(result.status, result.raw, headers)
        if result.status == 204 or result.body is None:
            return Response(result.status, b"", headers)
        headers.append(("Content-Type", "application/json;charset=UTF-8"))
        return Response(result.status, dumps(result.body), headers)


def _subrequests(req: Request) -> list[tuple[str, str]]:
    """The (method, url) of a Composite request's subrequests, for faults that look into them."""
    if req.method.upper() != "POST" or not _COMPOSITE.match(req.path):
        return []
    try:
        payload = json.loads(req.body or b"{}")
    except ValueError:
        return []
    subs = payload.get("compositeRequest") if isinstance(payload, dict) else None
    if not isinstance(subs, list):
        return []
    return [(str(sub.get("method", "")), str(sub.get("url", ""))) for sub in subs if isinstance(sub, dict)]
