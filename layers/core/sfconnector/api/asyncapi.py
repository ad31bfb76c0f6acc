"""The AsyncAPI 3.0 document of the trigger events (``GET /asyncapi.json``), built from data.

One channel, the SNS topic every trigger event is published on; one message per trigger of the
catalog (spec and supplementary), whose payload is the envelope's JSON Schema
(:class:`~sfconnector.models.trigger_events.TriggerEvent`) specialised for that trigger: ``type`` is
the trigger key, ``event_type`` the change its stream reports, ``sobject`` and the record id its
object's, ``data`` the record (Salesforce field names with the scalar values of
:data:`~sfconnector.models.FieldValue`) and, for field matched, the watched field's old and new
values. The SNS message attributes subscribers filter on (``trigger``, ``connection_id``,
``subscription_id``, ``sobject``, ``event_type``, ``tenant_id``) are the message's headers; the SNS and SQS
bindings say how to subscribe (a raw-delivery SQS queue with a filter policy on those attributes).

Nothing here is written per trigger: adding a trigger to the catalog adds its message. The same
payload schema is each trigger's ``event_schema`` in ``GET /catalog``. The schemas are the
AsyncAPI Schema format (a superset of JSON Schema draft 07), without ``$ref``, so a subscriber can
validate an envelope against one message's payload with any JSON Schema validator.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from sfconnector import catalog
from sfconnector.api.endpoints import CONNECTION_ID_PATTERN
from sfconnector.models import (
    CUSTOM_SOBJECT_PATTERN,
    FIELD_NAME_PATTERN,
    FieldValue,
    record_id_pattern,
)
from sfconnector.models.subscriptions import SUBSCRIPTION_ID_PATTERN
from sfconnector.models.tenancy import TENANT_ID_PATTERN
from sfconnector.models.trigger_events import TriggerEvent
from sfconnector.salesforce.ids import KEY_PREFIXES

__all__ = [
    "ASYNCAPI_VERSION",
    "CHANNEL",
    "MESSAGE_ATTRIBUTES",
    "OPERATION",
    "asyncapi_document",
    "event_headers_schema",
    "event_schema",
]

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "triggerEvents"
OPERATION = "publishTriggerEvents"
MESSAGE_ATTRIBUTES = ("trigger", "connection_id", "subscription_id", "sobject", "event_type")
"""The SNS message attributes of every trigger event (all ``String``), in the order documented."""
TENANT_ATTRIBUTE = "tenant_id"
"""The attribute of every event of an owned connection (absent for one from before tenancy)."""
_TENANT = (
    "The connection's owner tenant (the caller that created it, e.g. its IAM role ARN); absent for a "
    "connection from before tenancy. Filter on it to receive one tenant's events."
)

_PREFIX_OF = {sobject: prefix for prefix, sobject in KEY_PREFIXES.items()}
_USER_ID = record_id_pattern(_PREFIX_OF["User"])
_MATCHED_ONLY = ("old_value", "new_value", "changed_by", "changed_at", "old_value_from")
"""Envelope attributes only field matched events carry (the watched field's transition)."""
_SNS_BINDING, _SQS_BINDING = "0.1.0", "0.2.0"
"""The binding versions the AsyncAPI 3.0.0 schema validates (its ``bindingVersion`` enums)."""
_QUEUE = "your-subscriber-queue"

_DESCRIPTION = (
    "Record changes polled from Salesforce, published as CloudEvents 1.0 JSON envelopes on the "
    "stack's SNS topic (output `TriggerEventsTopicArn`): one message per subscription and record "
    "change, `id` stable across re-sends (deduplicate on it), `type` the trigger key. Subscribe an "
    "SQS queue (or another SNS protocol) with `RawMessageDelivery: true` and a filter policy on the "
    "message attributes (`trigger`, `connection_id`, `subscription_id`, `sobject`, `event_type`, "
    "`tenant_id`). "
    "An envelope larger than SNS's 256 KiB has no `data` but a `dataref` (`s3://bucket/key` of the "
    "whole envelope). The connection lifecycle events (`connection.needs_reauth`) share the topic "
    "and carry no `trigger` attribute, so a filter policy on `trigger` leaves them out."
)


def _string(description: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **schema}


def _sobject_schema(trigger: catalog.Trigger) -> dict[str, Any]:
    if trigger.sobject is not None:
        return _string("The sObject polled.", const=trigger.sobject)
    return _string(
        "The custom object of the subscription (`params.sobject`).", pattern=CUSTOM_SOBJECT_PATTERN
    )


def _record_id(trigger: catalog.Trigger) -> dict[str, Any]:
    prefix = _PREFIX_OF.get(trigger.sobject or "")
    starts = f", starting with {prefix}" if prefix else ""
    name = trigger.sobject or "custom object"
    article = "An" if name[0] in "AEIOU" else "A"
    return _string(
        f"{article} {name} record id (15 or 18 characters{starts}).", pattern=record_id_pattern(prefix)
    )


def _example_id(trigger: catalog.Trigger) -> str:
    prefix = _PREFIX_OF.get(trigger.sobject or "", "a0X")
    return f"{prefix}{'Hs00000AbCdEf'[: 15 - len(prefix)]}IAV"


def _record_schema(trigger: catalog.Trigger) -> dict[str, Any]:
    """``data``: the record as the poller's query returned it, trimmed to the subscription's
    ``fields`` (``Id`` always kept); its system fields are selected whatever ``fields`` says but
    only sent when ``fields`` is absent or names them."""
    value = TypeAdapter(FieldValue).json_schema()
    system: dict[str, Any] = {
        "Id": _record_id(trigger),
        "CreatedDate": _string("Salesforce datetime, e.g. 2026-12-02T16:00:00.000+0000."),
        "CreatedById": _string("The user who created the record.", pattern=_USER_ID),
        "LastModifiedDate": _string("Salesforce datetime."),
        "LastModifiedById": _string("The user who last modified the record.", pattern=_USER_ID),
        "SystemModstamp": _string("Salesforce datetime (the poller's replication key)."),
        "IsDeleted": {"type": "boolean", "description": "True in a deleted event (from the recycle bin)."},
    }
    family = catalog.family(trigger.family)
    example = {"Id": _example_id(trigger), **family.example}
    return {
        "type": "object",
        "description": f"The {trigger.sobject or 'custom object'} record: the subscription's `fields` "
        "(every queryable field when it names none), values as Salesforce's REST API returns them.",
        "required": ["Id"],
        "properties": {name: system[name] for name in catalog.SYSTEM_FIELDS if name in system},
        "propertyNames": {"pattern": FIELD_NAME_PATTERN},
        "additionalProperties": value,
        "examples": [example],
    }


def _event_type(trigger: catalog.Trigger, envelope: dict[str, Any]) -> dict[str, Any]:
    """The change the trigger's stream reports; a kind not served yet (entered list view) keeps
    the envelope's list of every change."""
    schema: dict[str, Any] = {k: v for k, v in envelope["properties"]["event_type"].items() if k != "title"}
    if trigger.stream is None:
        return schema
    return {
        "type": "string",
        "description": schema.get("description", ""),
        "const": trigger.stream.event.value,
    }


@cache
def _envelope() -> dict[str, Any]:
    return TriggerEvent.model_json_schema()


@cache
def _event_schema(key: str) -> dict[str, Any]:
    trigger = catalog.trigger(key)
    envelope = copy.deepcopy(_envelope())
    props: dict[str, Any] = envelope["properties"]
    envelope.pop("title", None)
    for prop in props.values():
        prop.pop("title", None)
    matched = trigger.kind is catalog.TriggerKind.FIELD_MATCHED
    value = TypeAdapter(FieldValue).json_schema()
    props.update(
        {
            "specversion": {"type": "string", "const": "1.0"},
            "type": {**props["type"], "const": trigger.key, "examples": [trigger.key]},
            "subject": _record_id(trigger),
            "time": {**props["time"], "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "connection_id": _string("The connection.", pattern=CONNECTION_ID_PATTERN),
            "subscription_id": _string("The subscription.", pattern=SUBSCRIPTION_ID_PATTERN),
            "tenant_id": _string(_TENANT, pattern=TENANT_ID_PATTERN),
            "sobject": _sobject_schema(trigger),
            "event_type": _event_type(trigger, envelope),
            "data": _record_schema(trigger),
            "dataref": {**props["dataref"], "type": "string", "pattern": r"^s3://[^/]+/.+$"},
        }
    )
    props["dataref"].pop("anyOf", None)
    props["dataref"].pop("default", None)
    if matched:
        props.update(
            {
                "old_value": {**value, "description": "The watched field's value before the change "
                              "(absent when it was empty, or when the record was created with the value)."},
                "new_value": {**value, "description": "The watched field's value after the change "
                              "(absent when it became empty)."},
                "changed_by": _string("The user who made the change.", pattern=_USER_ID),
                "changed_at": _string("When the field changed, UTC.", format="date-time"),
                "old_value_from": {"type": "string", "enum": ["snapshot"], "description": "`snapshot`: "
                                   "the field has no history tracking and the transition was decided "
                                   "from the connector's snapshot of it (a hash: `old_value` is absent)."},
            }
        )  # fmt: skip
    else:
        for name in _MATCHED_ONLY:
            props.pop(name, None)
    required = [name for name in envelope.get("required", []) if name in props]
    for name in ("specversion", "datacontenttype", *(("changed_at",) if matched else ())):
        if name not in required:
            required.append(name)
    envelope.update(
        {
            "description": f"{trigger.title}: {trigger.description}",
            "required": required,
            "additionalProperties": False,
            # A claim-checked envelope has `dataref` instead of `data`.
            "oneOf": [{"required": ["data"]}, {"required": ["dataref"]}],
        }
    )
    return envelope


def event_schema(trigger_key: str) -> dict[str, Any]:
    """The JSON Schema of one trigger's envelope (the message payload), a fresh copy."""
    return copy.deepcopy(_event_schema(trigger_key))


def event_headers_schema(trigger_key: str) -> dict[str, Any]:
    """The SNS message attributes of the trigger's events, as the message's headers."""
    trigger = catalog.trigger(trigger_key)
    event_type = _event_type(trigger, _envelope())
    properties: dict[str, Any] = {
        "trigger": _string("The trigger key (filter on it to receive one trigger).", const=trigger.key),
        "connection_id": _string("The connection.", pattern=CONNECTION_ID_PATTERN),
        "subscription_id": _string("The subscription.", pattern=SUBSCRIPTION_ID_PATTERN),
        "sobject": _sobject_schema(trigger),
        "event_type": event_type,
        TENANT_ATTRIBUTE: _string(_TENANT, pattern=TENANT_ID_PATTERN),
    }
    return {
        "type": "object",
        "description": "SNS message attributes (DataType String), usable in a subscription's filter "
        "policy (FilterPolicyScope MessageAttributes).",
        "required": list(MESSAGE_ATTRIBUTES),
        "properties": {name: properties[name] for name in (*MESSAGE_ATTRIBUTES, TENANT_ATTRIBUTE)},
        "additionalProperties": False,
    }


def _example(trigger: catalog.Trigger) -> dict[str, Any]:
    payload = {
        "specversion": "1.0",
        "id": "3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6",
        "type": trigger.key,
        "source": "salesforce/00DHs00000EmuDmMAC",
        "subject": _example_id(trigger),
        "time": "2026-12-02T16:00:00Z",
        "datacontenttype": "application/json",
        "connection_id": "acme-prod",
        "subscription_id": "0123456789abcdef0123456789abcdef",
        "tenant_id": "arn:aws:iam::123456789012:role/acme-workflows",
        "sobject": trigger.sobject or "Invoice__c",
        "event_type": trigger.stream.event.value if trigger.stream else "entered",
        "data": _record_schema(trigger)["examples"][0],
    }
    if trigger.kind is catalog.TriggerKind.FIELD_MATCHED:
        payload |= {"old_value": "Prospecting", "new_value": "Closed Won",
                    "changed_by": "005Hs00000SeLLrIAF", "changed_at": "2026-12-02T16:00:00Z"}  # fmt: skip
    headers = {name: payload[name] for name in MESSAGE_ATTRIBUTES if name != "trigger"}
    return {"name": "example", "headers": {"trigger": trigger.key, **headers}, "payload": payload}


def _message(trigger: catalog.Trigger) -> dict[str, Any]:
    return {
        "name": trigger.key,
        "title": trigger.title,
        "summary": trigger.description,
        "contentType": "application/json",
        "headers": event_headers_schema(trigger.key),
        "payload": event_schema(trigger.key),
        "examples": [_example(trigger)],
        "tags": [{"name": trigger.family}, *([] if trigger.in_spec else [{"name": "supplementary"}])],
    }


# ---- connector events (same topic, no trigger): bulk_job.finished ------------------------------

CONNECTOR_CHANNEL = "connectorEvents"
CONNECTOR_OPERATION = "publishConnectorEvents"
BULK_FINISHED = "bulk_job.finished"


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema with its ``$defs`` inlined (the document's schemas carry no ``$ref``)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


def _bulk_finished_message() -> dict[str, Any]:
    from sfconnector.models.bulk import BulkJobFinished

    payload = _inlined(BulkJobFinished.model_json_schema())
    payload["properties"]["connection_id"] = _string("The connection.", pattern=CONNECTION_ID_PATTERN)
    payload["properties"]["tenant_id"] = _string(_TENANT, pattern=TENANT_ID_PATTERN)
    payload["required"] = sorted({*payload.get("required", []), "type"})
    headers = {
        "type": "object",
        "description": "SNS message attributes (DataType String), usable in a filter policy.",
        "required": ["event_type", "connection_id", "job_state"],
        "properties": {
            "event_type": _string("The event's type.", const=BULK_FINISHED),
            "connection_id": _string("The connection.", pattern=CONNECTION_ID_PATTERN),
            "job_state": {"type": "string", "enum": ["JobComplete", "Failed", "Aborted"]},
            TENANT_ATTRIBUTE: _string(_TENANT, pattern=TENANT_ID_PATTERN),
        },
        "additionalProperties": False,
    }
    job = {
        "id": "750Hs0000000001IAA",
        "kind": "ingest",
        "object": "Account",
        "operation": "upsert",
        "state": "JobComplete",
        "records_processed": 50000,
        "records_failed": 12,
        "created_at": "2026-12-02T16:00:00.000+0000",
        "finished": True,
    }
    example = {
        "id": "bulk-750Hs0000000001IAA",
        "type": BULK_FINISHED,
        "source": "salesforce/bulk",
        "subject": job["id"],
        "time": "2026-12-02T16:04:00Z",
        "connection_id": "acme-prod",
        "tenant_id": "arn:aws:iam::123456789012:role/acme-workflows",
        "data": job,
    }
    headers_example = {
        "event_type": BULK_FINISHED,
        "connection_id": "acme-prod",
        "job_state": "JobComplete",
        "tenant_id": example["tenant_id"],
    }
    return {
        "name": BULK_FINISHED,
        "title": "Bulk job finished",
        "summary": "A bulk job (Bulk API 2.0) reached JobComplete, Failed or Aborted; published once "
        "by the bulk watcher (it checks unfinished jobs every minute).",
        "contentType": "application/json",
        "headers": headers,
        "payload": payload,
        "examples": [{"name": "example", "headers": headers_example, "payload": example}],
        "tags": [{"name": "bulk"}],
    }


def _connector_events(channel: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The connector's own events on the same topic (no ``trigger`` attribute): channel, operation,
    messages."""
    messages = {BULK_FINISHED: _bulk_finished_message()}
    events_channel = {
        **{k: v for k, v in channel.items() if k != "messages"},
        "title": "Connector events (the same topic)",
        "description": "Events of the connector itself on the trigger events topic (no `trigger` "
        "attribute): filter on `event_type` (`bulk_job.finished`).",
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
    }
    operation = {
        "action": "send",
        "title": "Publish connector events",
        "summary": "The bulk watcher publishes each finished bulk job once.",
        "channel": {"$ref": f"#/channels/{CONNECTOR_CHANNEL}"},
        "messages": [{"$ref": f"#/channels/{CONNECTOR_CHANNEL}/messages/{key}"} for key in messages],
    }
    return events_channel, operation, messages


def asyncapi_document(*, title: str, version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every trigger's events (built fresh: the caller caches it)."""
    messages = {trigger.key: _message(trigger) for trigger in catalog.TRIGGERS}
    example_filter = {"trigger": [catalog.TRIGGERS[0].key], "connection_id": ["acme-prod"]}
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{title} trigger events",
            "version": version,
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "sns": {
                "host": "sns.{region}.amazonaws.com",
                "protocol": "sns",
                "description": "Amazon SNS in the stack's region.",
                "variables": {"region": {"default": "us-east-1", "description": "The stack's AWS region."}},
            }
        },
        "channels": {
            CHANNEL: {
                "address": "{stack_name}-trigger-events",
                "title": "Trigger events topic",
                "description": "The SNS topic (template.yaml TriggerEventsTopic; its ARN is the stack "
                "output TriggerEventsTopicArn).",
                "parameters": {"stack_name": {"description": "The CloudFormation stack's name."}},
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
                "servers": [{"$ref": "#/servers/sns"}],
                "bindings": {"sns": {"name": "{stack_name}-trigger-events", "bindingVersion": _SNS_BINDING}},
            }
        },
        "operations": {
            OPERATION: {
                "action": "send",
                "title": "Publish trigger events",
                "summary": "The poller publishes each record change once per matching subscription.",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"} for key in messages],
                "bindings": {
                    "sns": {
                        "consumers": [
                            {
                                "protocol": "sqs",
                                "endpoint": {"name": _QUEUE},
                                "displayName": "A subscriber's SQS queue (example filter policy)",
                                "filterPolicy": example_filter,
                                "filterPolicyScope": "MessageAttributes",
                                "rawMessageDelivery": True,
                            }
                        ],
                        "bindingVersion": _SNS_BINDING,
                    },
                    "sqs": {"queues": [{"name": _QUEUE, "fifoQueue": False}], "bindingVersion": _SQS_BINDING},
                },
            }
        },
        "components": {"messages": messages},
    }
    events_channel, operation, events = _connector_events(document["channels"][CHANNEL])
    document["channels"][CONNECTOR_CHANNEL] = events_channel
    document["operations"][CONNECTOR_OPERATION] = operation
    document["components"]["messages"].update(events)
    return document
