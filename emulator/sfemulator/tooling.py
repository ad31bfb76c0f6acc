"""The Tooling API objects behind Change Data Capture and Event Relay, under ``/tooling/``.

``PlatformEventChannel`` (a CDC channel), ``PlatformEventChannelMember`` (one entity on it),
``NamedCredential`` (the AWS account and region), ``EventRelayConfig`` (the relay) and the read-only
``EventRelayFeedback`` (kept by the emulator): create / get / patch / delete by id and a Tooling
query with the WHERE forms a client needs (``Field = 'v'``, ``Field IN ('a', 'b')``, ``AND``).

The refusals a real org gives are switchable through the org's configuration (admin API): the CDC
entity allocation (``cdc_entity_limit``, 5 by default across all channels), entities CDC does not
support (CaseComment), the "Customize Application" permission (``customize_application``) and
Event Relay itself (``event_relay_enabled``). The relay's work lives in ``sfemulator.relay``: this
module keeps the objects and tells the relay when a config appears, changes or goes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfemulator.calls import CallContext, Result, first, parse_json_body
from sfemulator.errors import ApiError, not_found
from sfemulator.ids import normalize_id

if TYPE_CHECKING:
    from sfemulator.org import Org

__all__ = [
    "CHANNEL",
    "CONFIG",
    "FEEDBACK",
    "MEMBER",
    "NAMED_CREDENTIAL",
    "ToolingApi",
    "ToolingObjects",
    "entity_of",
]

CHANNEL = "PlatformEventChannel"
MEMBER = "PlatformEventChannelMember"
NAMED_CREDENTIAL = "NamedCredential"
CONFIG = "EventRelayConfig"
FEEDBACK = "EventRelayFeedback"
# Key prefixes: 0YL (channel) and 0XA (named credential) as Salesforce's docs show them; the others
# are our assumption (docs/emulator.md), only their shape matters to a client.
PREFIXES = {CHANNEL: "0YL", MEMBER: "0v8", NAMED_CREDENTIAL: "0XA", CONFIG: "7k2", FEEDBACK: "7k5"}
WRITABLE = (CHANNEL, MEMBER, NAMED_CREDENTIAL, CONFIG)
UNSUPPORTED_ENTITIES = frozenset({"CaseComment"})
"""Objects of the emulator's schema that CDC does not cover (Salesforce's list; CaseComment is the one
the connector's catalog meets)."""
STATES = ("RUN", "PAUSE", "STOP")
FEEDBACK_STATUS = {"RUN": "RUNNING", "PAUSE": "PAUSED", "STOP": "STOPPED"}
_ENDPOINT = re.compile(r"^arn:aws:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12})$")
_FULL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<type>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>\w+)\s*(?:(?P<eq>=|!=)\s*(?P<value>'(?:[^'\\]|\\.)*'|null|true|false)"
    r"|\s+IN\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)


def entity_of(selected: str) -> str:
    """The sObject of a change event: ``AccountChangeEvent`` -> Account, ``Foo__ChangeEvent`` -> Foo__c."""
    if selected.endswith("__ChangeEvent"):
        return selected.removesuffix("__ChangeEvent") + "__c"
    return selected.removesuffix("ChangeEvent")


def _invalid(message: str, *fields: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message, list(fields))


@dataclass
class ToolingObjects:
    """The org's setup objects by type and id (each a flat dict of Tooling fields plus Metadata)."""

    records: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in PREFIXES}
    )

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.records[kind]

    def named(self, kind: str, full_name: str) -> dict[str, Any] | None:
        return next((r for r in self.records[kind].values() if r["FullName"] == full_name), None)

    def members_of(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.records[MEMBER].values() if m["EventChannel"] == channel_id]

    def feedback_of(self, config_id: str) -> dict[str, Any] | None:
        return next(
            (f for f in self.records[FEEDBACK].values() if f["EventRelayConfigId"] == config_id), None
        )

    def selected_entities(self) -> set[str]:
        return {m["SelectedEntity"] for m in self.records[MEMBER].values()}

    def clear(self) -> None:
        for kind in self.records.values():
            kind.clear()

    def to_state(self) -> dict[str, Any]:
        return {kind: list(recs.values()) for kind, recs in self.records.items()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.clear()
        for kind, recs in state.items():
            if kind in self.records:
                self.records[kind] = {r["Id"]: r for r in recs}


class ToolingApi:
    """``/services/data/vNN.0/tooling/...`` for the CDC and Event Relay objects (org lock held)."""

    def __init__(self, org: Org) -> None:
        self.org = org

    @property
    def objects(self) -> ToolingObjects:
        return self.org.tooling

    def dispatch(
        self, method: str, parts: list[str], query: dict[str, list[str]], body: bytes, ctx: CallContext
    ) -> Result:
        self.org.relay.refresh_feedback()
        if parts == ["query"]:
            if method != "GET":
                raise ApiError(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET"
                )
            return Result(200, self.query(first(query, "q") or "", ctx))
        if len(parts) < 2 or parts[0] != "sobjects":
            raise not_found()
        kind = parts[1]
        if kind not in PREFIXES:
            raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: {kind}")
        if len(parts) == 2:
            if method != "POST":
                raise ApiError(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are POST"
                )
            return self.create(kind, body, ctx)
        if len(parts) != 3:
            raise not_found()
        rid = normalize_id(parts[2])
        record = self.objects.of(kind).get(rid or "")
        if record is None:
            raise not_found()
        if method in ("GET", "HEAD"):
            return Result(200, self._render(kind, record, ctx, None))
        if method == "PATCH":
            return self.update(kind, record, body)
        if method == "DELETE":
            return self.delete(kind, record)
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{method}' not allowed. Allowed are GET,HEAD,PATCH,DELETE",
        )

    # -- writes ------------------------------------------------------------------------------
    def _may_write(self, kind: str) -> None:
        if kind not in WRITABLE:
            raise ApiError(
                400, "INVALID_TYPE", f"sObject type '{kind}' is not supported for this operation", []
            )
        if not self.org.config.customize_application:
            raise ApiError(
                403,
                "INSUFFICIENT_ACCESS",
                "insufficient access rights: the Customize Application permission is required",
                [],
            )

    def create(self, kind: str, body: bytes, ctx: CallContext) -> Result:
        self._may_write(kind)
        if kind == CONFIG and not self.org.config.event_relay_enabled:
            raise ApiError(400, "FEATURE_NOT_ENABLED", "Event Relay is not enabled for this organization", [])
        payload, _ = parse_json_body(body)
        if not isinstance(payload, dict):
            raise _invalid("The request body must be a JSON object with FullName and Metadata")
        full_name = payload.get("FullName")
        metadata = payload.get("Metadata")
        if not isinstance(full_name, str) or not _FULL_NAME.match(full_name):
            raise ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                "FullName: a developer name (letters, digits, _) is required",
                ["FullName"],
            )
        if not isinstance(metadata, dict):
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "Metadata: an object is required", ["Metadata"])
        if self.objects.named(kind, full_name) is not None:
            raise ApiError(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                f"The developer name {full_name} is already in use",
                ["FullName"],
            )
        builder = {CHANNEL: self._channel, MEMBER: self._member, NAMED_CREDENTIAL: self._credential,
                   CONFIG: self._config}[kind]  # fmt: skip
        fields = builder(full_name, metadata)
        org = self.org
        rid = org.ids.new(PREFIXES[kind])
        now = org.now_text()
        record = {
            "Id": rid,
            "FullName": full_name,
            "DeveloperName": full_name.removesuffix("__chn"),
            "MasterLabel": str(metadata.get("label") or full_name),
            "CreatedDate": now,
            "CreatedById": ctx.user_id,
            "LastModifiedDate": now,
            "LastModifiedById": ctx.user_id,
            **fields,
            "Metadata": metadata,
        }
        self.objects.of(kind)[rid] = record
        if kind == CONFIG:
            self._open_feedback(record, ctx.user_id)
            org.relay.config_created(record)
        org.touch()
        return Result(201, {"id": rid, "success": True, "errors": [], "warnings": [], "infos": []})

    def update(self, kind: str, record: dict[str, Any], body: bytes) -> Result:
        self._may_write(kind)
        payload, _ = parse_json_body(body)
        metadata = payload.get("Metadata") if isinstance(payload, dict) else None
        if not isinstance(metadata, dict):
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "Metadata: an object is required", ["Metadata"])
        merged = {**record["Metadata"], **metadata}
        if kind == CONFIG:
            changed = sorted(k for k, v in metadata.items() if record["Metadata"].get(k) != v)
            others = [k for k in changed if k not in ("state", "relayOption")]
            if others:
                raise _invalid(
                    f"Only state and relayOption of an EventRelayConfig can change, not {', '.join(others)}",
                    *others,
                )
        builder = {CHANNEL: self._channel, MEMBER: self._member, NAMED_CREDENTIAL: self._credential,
                   CONFIG: self._config}[kind]  # fmt: skip
        if kind == MEMBER:
            if merged.get("selectedEntity") != record["Metadata"].get("selectedEntity"):
                raise _invalid("selectedEntity of a channel member cannot change", "selectedEntity")
            fields = self._member(record["FullName"], merged, replacing=record["Id"])
        else:
            fields = builder(record["FullName"], merged)
        record.update(fields)
        record["Metadata"] = merged
        record["MasterLabel"] = str(merged.get("label") or record["FullName"])
        record["LastModifiedDate"] = self.org.now_text()
        if kind == CONFIG:
            feedback = self.objects.feedback_of(record["Id"])
            if feedback is not None:
                feedback["Status"] = FEEDBACK_STATUS[record["State"]]
                feedback["LastModifiedDate"] = record["LastModifiedDate"]
            self.org.relay.config_changed(record)
        self.org.touch()
        return Result(204)

    def delete(self, kind: str, record: dict[str, Any]) -> Result:
        self._may_write(kind)
        objects = self.objects
        rid = record["Id"]
        if kind == CHANNEL:
            users = [m["FullName"] for m in objects.members_of(rid)] + [
                c["FullName"] for c in objects.of(CONFIG).values() if c["EventChannel"] == rid
            ]
            if users:
                raise ApiError(400, "DELETE_FAILED", f"The channel is still used by {', '.join(users)}", [])
        if kind == NAMED_CREDENTIAL:
            callout = f"callout:{record['FullName']}"
            users = [
                c["FullName"] for c in objects.of(CONFIG).values() if c["DestinationResourceName"] == callout
            ]
            if users:
                raise ApiError(
                    400, "DELETE_FAILED", f"The named credential is used by {', '.join(users)}", []
                )
        del objects.of(kind)[rid]
        if kind == CONFIG:
            feedback = objects.feedback_of(rid)
            if feedback is not None:
                del objects.of(FEEDBACK)[feedback["Id"]]
            self.org.relay.config_deleted(record)
        self.org.touch()
        return Result(204)

    def _open_feedback(self, config: dict[str, Any], user_id: str) -> None:
        org = self.org
        fid = org.ids.new(PREFIXES[FEEDBACK])
        number = len(self.objects.of(FEEDBACK)) + 1
        self.objects.of(FEEDBACK)[fid] = {
            "Id": fid,
            "EventRelayNumber": f"ERF-{number:06d}",
            "EventRelayConfigId": config["Id"],
            "Status": FEEDBACK_STATUS[config["State"]],
            "RemoteResource": config["RemoteResource"],
            "ErrorCode": None,
            "ErrorIdentifier": None,
            "ErrorMessage": None,
            "ErrorTime": None,
            "LastRelayedEventTime": None,
            "CreatedDate": config["CreatedDate"],
            "CreatedById": user_id,
            "LastModifiedDate": config["CreatedDate"],
            "LastModifiedById": user_id,
            "IsDeleted": False,
        }

    # -- per-type validation: the Tooling fields of a record from its Metadata ------------------
    def _channel(self, full_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        if not full_name.endswith("__chn"):
            raise _invalid("The FullName of a custom channel must end with __chn", "FullName")
        channel_type = metadata.get("channelType")
        if channel_type not in ("data", "event"):
            raise _invalid(
                "channelType must be data (change events) or event (platform events)", "channelType"
            )
        if not isinstance(metadata.get("label"), str) or not metadata["label"]:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [label]", ["label"])
        return {"ChannelType": channel_type}

    def _member(
        self, full_name: str, metadata: dict[str, Any], replacing: str | None = None
    ) -> dict[str, Any]:
        channel_name = metadata.get("eventChannel")
        channel = self.objects.named(CHANNEL, channel_name) if isinstance(channel_name, str) else None
        if channel is None:
            raise _invalid(f"eventChannel: no channel named {channel_name!r}", "eventChannel")
        selected = metadata.get("selectedEntity")
        if not isinstance(selected, str) or not selected:
            raise ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [selectedEntity]",
                ["selectedEntity"],
            )
        if channel["ChannelType"] == "data":
            entity = entity_of(selected)
            sobj = self.org.schema.get(entity)
            if not selected.endswith("ChangeEvent") or sobj is None or entity in UNSUPPORTED_ENTITIES:
                raise _invalid(
                    f"selectedEntity: {selected} is not a change event Change Data Capture supports",
                    "selectedEntity",
                )
            if replacing is None:
                taken = self.objects.selected_entities()
                limit = self.org.config.cdc_entity_limit
                if selected not in taken and len(taken) >= limit:
                    raise ApiError(
                        400,
                        "LIMIT_EXCEEDED",
                        f"You can select up to {limit} entities for Change Data Capture across all "
                        f"channels; {len(taken)} are selected ({', '.join(sorted(taken))})",
                        ["selectedEntity"],
                    )
            enriched = metadata.get("enrichedFields") or []
            if not isinstance(enriched, list) or not all(isinstance(e, dict) for e in enriched):
                raise _invalid('enrichedFields: a list of {"name": ...}', "enrichedFields")
            for item in enriched:
                name = item.get("name")
                if not isinstance(name, str) or sobj.field(name) is None:
                    raise _invalid(f"enrichedFields: {entity} has no field {name!r}", "enrichedFields")
        filter_expression = metadata.get("filterExpression")
        if filter_expression is not None and not isinstance(filter_expression, str):
            raise _invalid("filterExpression must be a string", "filterExpression")
        return {
            "EventChannel": channel["Id"],
            "SelectedEntity": selected,
            "FilterExpression": filter_expression,
            "EnrichedFields": [str(e["name"]) for e in metadata.get("enrichedFields") or []],
        }

    def _credential(self, full_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        endpoint = metadata.get("endpoint")
        if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
            raise _invalid("endpoint: an AWS endpoint is arn:aws:<region>:<12-digit account id>", "endpoint")
        return {
            "Endpoint": endpoint,
            "PrincipalType": metadata.get("principalType") or "Anonymous",
            "Protocol": metadata.get("protocol") or "NoAuthentication",
        }

    def _config(self, full_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        channel_name = metadata.get("eventChannel")
        channel = self.objects.named(CHANNEL, channel_name) if isinstance(channel_name, str) else None
        if channel is None:
            raise _invalid(f"eventChannel: no channel named {channel_name!r}", "eventChannel")
        destination = metadata.get("destinationResourceName")
        credential = None
        if isinstance(destination, str) and destination.startswith("callout:"):
            credential = self.objects.named(NAMED_CREDENTIAL, destination.removeprefix("callout:"))
        if credential is None:
            raise _invalid(
                f"destinationResourceName: no named credential behind {destination!r} (callout:<FullName>)",
                "destinationResourceName",
            )
        state = metadata.get("state") or "STOP"
        if state not in STATES:
            raise _invalid("state must be RUN, PAUSE or STOP", "state")
        option = metadata.get("relayOption") or '{"ReplayRecovery":"LATEST"}'
        try:
            recovery = json.loads(option).get("ReplayRecovery") if isinstance(option, str) else None
        except (ValueError, AttributeError):
            recovery = None
        if recovery not in ("LATEST", "EARLIEST"):
            raise _invalid('relayOption must be {"ReplayRecovery":"LATEST"} or "EARLIEST"', "relayOption")
        match = _ENDPOINT.match(credential["Endpoint"])
        assert match is not None
        return {
            "EventChannel": channel["Id"],
            "DestinationResourceName": destination,
            "State": state,
            "RelayOption": option,
            "ReplayRecovery": recovery,
            "Region": match.group(1),
            "Account": match.group(2),
            "RemoteResource": f"aws.partner/salesforce.com/{self.org.org_id}/{channel['Id']}",
        }

    # -- query -------------------------------------------------------------------------------
    def query(self, soql: str, ctx: CallContext) -> dict[str, Any]:
        m = _QUERY.match(soql)
        if m is None:
            raise ApiError(400, "MALFORMED_QUERY", f"unexpected token in the Tooling query: {soql[:200]}")
        kind = m.group("type")
        match_kind = next((k for k in PREFIXES if k.lower() == kind.lower()), None)
        if match_kind is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                f"sObject type '{kind}' is not supported. The Tooling API here serves {', '.join(PREFIXES)}",
            )
        records = list(self.objects.of(match_kind).values())
        fields = [f.strip() for f in m.group("fields").split(",") if f.strip()]
        sample = self._field_names(match_kind)
        for name in fields:
            if name.lower() not in sample:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{match_kind}'")
        for condition in _split_and(m.group("where")):
            records = [r for r in records if _matches(r, condition, sample)]
        if m.group("limit"):
            records = records[: int(m.group("limit"))]
        if len(records) > 1 and {"fullname", "metadata"} & {f.lower() for f in fields}:
            raise ApiError(
                400,
                "MALFORMED_QUERY",
                "When retrieving results with Metadata or FullName fields, the query qualificiations must "
                "specify no more than one row for retrieval. Result size: " + str(len(records)),
            )
        rendered = [self._render(match_kind, r, ctx, [sample[f.lower()] for f in fields]) for r in records]
        return {
            "size": len(rendered),
            "totalSize": len(rendered),
            "done": True,
            "queryLocator": None,
            "entityTypeName": match_kind,
            "records": rendered,
        }

    @staticmethod
    def _field_names(kind: str) -> dict[str, str]:
        common = ["Id", "FullName", "DeveloperName", "MasterLabel", "Metadata", "CreatedDate", "CreatedById",
                  "LastModifiedDate", "LastModifiedById"]  # fmt: skip
        extra = {
            CHANNEL: ["ChannelType"],
            MEMBER: ["EventChannel", "SelectedEntity", "FilterExpression", "EnrichedFields"],
            NAMED_CREDENTIAL: ["Endpoint", "PrincipalType", "Protocol"],
            CONFIG: ["EventChannel", "DestinationResourceName", "State", "RelayOption", "RemoteResource"],
            FEEDBACK: [
                "Id",
                "EventRelayNumber",
                "EventRelayConfigId",
                "Status",
                "RemoteResource",
                "ErrorCode",
                "ErrorIdentifier",
                "ErrorMessage",
                "ErrorTime",
                "LastRelayedEventTime",
                "CreatedDate",
                "CreatedById",
                "LastModifiedDate",
                "LastModifiedById",
                "IsDeleted",
            ],
        }[kind]
        names = extra if kind == FEEDBACK else common + extra
        return {n.lower(): n for n in names}

    def _render(
        self, kind: str, record: dict[str, Any], ctx: CallContext, fields: list[str] | None
    ) -> dict[str, Any]:
        names = fields if fields is not None else list(self._field_names(kind).values())
        out: dict[str, Any] = {
            "attributes": {
                "type": kind,
                "url": f"/services/data/{ctx.version}/tooling/sobjects/{kind}/{record['Id']}",
            }
        }
        for name in names:
            out[name] = record.get(name)
        return out


def _split_and(where: str | None) -> list[str]:
    if not where:
        return []
    return [part for part in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE) if part.strip()]


def _literal(text: str) -> Any:
    text = text.strip()
    if text.lower() == "null":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    raise ApiError(400, "MALFORMED_QUERY", f"unexpected literal {text}")


def _same(have: Any, want: Any) -> bool:
    if isinstance(have, str) and isinstance(want, str):
        # Ids compare in either form (15 or 18 characters), names case-insensitively, as SOQL does.
        norm_have, norm_want = normalize_id(have), normalize_id(want)
        if norm_have is not None and norm_want is not None:
            return norm_have == norm_want
        return have.lower() == want.lower()
    return bool(have == want)


def _matches(record: dict[str, Any], condition: str, names: dict[str, str]) -> bool:
    m = _CONDITION.match(condition)
    if m is None:
        raise ApiError(
            400, "MALFORMED_QUERY", f"unsupported condition in the Tooling query: {condition.strip()}"
        )
    name = names.get(m.group("field").lower())
    if name is None:
        raise ApiError(400, "INVALID_FIELD", f"No such column '{m.group('field')}'")
    have = record.get(name)
    if m.group("values") is not None:
        values = [
            _literal(v) for v in re.findall(r"'(?:[^'\\]|\\.)*'|null|true|false", m.group("values"), re.I)
        ]
        return any(_same(have, v) for v in values)
    equal = _same(have, _literal(m.group("value")))
    return equal if m.group("eq") == "=" else not equal
