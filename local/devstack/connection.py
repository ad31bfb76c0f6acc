"""The demo connection: created at start-up through the connector's real OAuth endpoints.

Exactly what a person does in a browser, done with httpx: ``POST /connections`` on the front
returns an ``authorize_url``; that page (the emulator's login/consent page) is submitted with
"Allow"; Salesforce's redirect goes to the front's ``/oauth/callback``, where the connections
function exchanges the code (PKCE) and stores the tokens in Secrets Manager (moto).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx

DEMO_NAME = "demo"


class DemoConnectionError(RuntimeError):
    """The demo connection could not be created; the message says at which step."""


@dataclass
class HtmlForm:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str | None, str | None, str]] = field(default_factory=list)  # name, value, label


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[HtmlForm] = []
        self._button: tuple[str | None, str | None] | None = None
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(HtmlForm(attributes.get("action", ""), attributes.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input":
            kind = attributes.get("type", "text").lower()
            name = attributes.get("name")
            if kind == "submit":
                self.forms[-1].buttons.append((name, attributes.get("value"), attributes.get("value", "")))
            elif name and (kind not in {"checkbox", "radio"} or "checked" in attributes):
                self.forms[-1].fields[name] = attributes.get("value", "")
        elif tag == "button":
            self._button = (attributes.get("name"), attributes.get("value"))
            self._label = []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value = self._button
            self.forms[-1].buttons.append((name, value, "".join(self._label).strip()))
            self._button = None


def parse_forms(html: str) -> list[HtmlForm]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def submit_allow(client: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Submit the consent form's "Allow" button of ``page``; returns the final response."""
    for form in parse_forms(page.text):
        for name, value, label in form.buttons:
            if label.strip().lower() in {"allow", "approve"} or (value or "").strip().lower() == "allow":
                data = dict(form.fields)
                if name:
                    data[name] = value or ""
                url = urljoin(str(page.url), form.action or str(page.url))
                if form.method == "post":
                    return client.post(url, data=data)
                return client.get(url, params=data)
    raise DemoConnectionError(f"no 'Allow' button on the authorisation page {page.url}")


def _connections(client: httpx.Client, api_url: str) -> list[dict[str, Any]]:
    response = client.get(f"{api_url}/connections")
    if response.status_code != 200:
        raise DemoConnectionError(f"GET /connections answered {response.status_code}: {response.text[:200]}")
    body: Any = response.json()
    items: Any = body.get("connections", body.get("items", [])) if isinstance(body, dict) else body
    return [c for c in items or [] if isinstance(c, dict)]


def ensure_demo_connection(*, api_url: str, client_id: str, client_secret: str, timeout: float = 20.0) -> str:
    """Return the id of the connected ``demo`` connection, creating it through OAuth if needed."""
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        try:
            for existing in _connections(client, api_url):
                if existing.get("name") == DEMO_NAME and existing.get("status") in {"connected", "active"}:
                    return str(existing["connection_id"])
            started = client.post(
                f"{api_url}/connections",
                json={
                    "name": DEMO_NAME,
                    "environment": "production",
                    "client_id": client_id,
                    "client_secret": client_secret,
                },
            )
            if started.status_code not in (200, 201):
                raise DemoConnectionError(
                    f"POST /connections answered {started.status_code}: {started.text[:300]}"
                )
            payload = started.json()
            connection_id = str(payload["connection_id"])
            page = client.get(str(payload["authorize_url"]))
            if page.status_code != 200:
                raise DemoConnectionError(f"the authorisation page answered {page.status_code}")
            result = submit_allow(client, page)
            if result.status_code != 200:
                raise DemoConnectionError(
                    f"the OAuth callback answered {result.status_code}: {result.text[:300]}"
                )
            status = client.get(f"{api_url}/connections/{connection_id}")
            state = status.json().get("status") if status.status_code == 200 else None
            if state not in {"connected", "active"}:
                raise DemoConnectionError(f"connection {connection_id} is {state!r} after the callback")
            return connection_id
        except httpx.HTTPError as exc:
            raise DemoConnectionError(f"HTTP error: {exc}") from exc
        except (KeyError, ValueError) as exc:
            raise DemoConnectionError(f"unexpected response: {exc}") from exc


DEMO_REALTIME_OBJECTS = ("Lead", "Account", "Case", "OpportunityLineItem", "CampaignMember", "CaseComment")
"""What ``make demo``'s automations and their loop-guard witness subscribe to (their triggers' and
write-backs' objects), in that order: the first five fill the org's CDC allocation of five entities,
and CaseComment stays on polling (CDC does not cover it)."""


def enable_demo_realtime(
    *,
    api_url: str,
    connection_id: str,
    objects: tuple[str, ...] = DEMO_REALTIME_OBJECTS,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Set up real-time triggers for the demo connection with the same PUT a user sends; its answer."""
    with httpx.Client(timeout=timeout) as client:
        try:
            answer = client.put(
                f"{api_url}/connections/{connection_id}/realtime",
                json={"enabled": True, "objects": list(objects)},
            )
        except httpx.HTTPError as exc:
            raise DemoConnectionError(f"PUT /connections/{connection_id}/realtime: {exc}") from exc
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200 or not isinstance(body, dict):
        raise DemoConnectionError(
            f"PUT /connections/{connection_id}/realtime answered {answer.status_code}: {answer.text[:300]}"
        )
    return body


def _state(answer: dict[str, Any]) -> dict[str, Any]:
    """The realtime state of a PUT or GET answer (``realtime``), or the state itself."""
    inner = answer.get("realtime")
    return inner if isinstance(inner, dict) else answer


def relayed_objects(answer: dict[str, Any] | None) -> list[str]:
    """The objects a realtime answer relays (none without an answer)."""
    if not answer:
        return []
    state = _state(answer)
    return [
        str(o.get("sobject"))
        for o in state.get("objects", [])
        if isinstance(o, dict) and o.get("mode") == "relayed"
    ]


def realtime_lines(answer: dict[str, Any]) -> list[str]:
    """What is relayed and what stays on polling, and why, from a realtime answer or GET."""
    state = _state(answer)
    objects = [o for o in state.get("objects", []) if isinstance(o, dict)]
    relayed = relayed_objects(answer)
    polled = [
        f"{o.get('sobject')} ({o.get('reason') or 'polling'})" for o in objects if o.get("mode") != "relayed"
    ]
    lines = [f"  relayed      {', '.join(relayed) or 'none'}  (association: {state.get('association', '?')})"]
    if state.get("source_name"):
        lines.append(f"  source       {state['source_name']}")
    lines.append(f"  polling      {', '.join(polled) or 'none'}")
    return lines
