"""The catalog: every object family, action and trigger of the connector, declared once as data.

Everything that differs between families lives here; the code that serves actions
(:mod:`sfconnector.actions`, :mod:`sfconnector.api`) and polls triggers is generic and reads it.
Adding a family is one :class:`Family` entry, its actions and triggers below, a
``functions/<key>/app.py`` of three lines and a function block in template.yaml.

Keys are stable: they appear in URLs, SNS message attributes, the ``GET /catalog`` document and the
docs, so never rename one.

* 12 families, 54 actions and 30 triggers, exactly the lists of the product spec, plus the
  supplementary files family (Salesforce Files, issue 19)
  (tests/data/integration-page.txt; ``tests/unit/test_catalog.py`` compares them).
* Actions marked ``in_spec=False`` are supplementary (a plain "get by id" for the families whose
  spec list has none, find many and batch writes for every record family, and the ``objects``
  family: any object of the org); they are served and listed but are not part of the 54.
* The HTTP route of an action is part of its entry; path parameters are written ``{name}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from sfconnector.errors import Fault
from sfconnector.models import (
    DeleteResult,
    FindAllInput,
    FindInput,
    FindResult,
    QueryResult,
    RecordFields,
    RecordResult,
    UpsertInput,
    UpsertResult,
)

__all__ = [
    "ACTIONS",
    "DEMO_IDS",
    "FAMILIES",
    "SERVICE_FAMILIES",
    "STREAMS",
    "TRIGGERS",
    "Action",
    "ChangeEvent",
    "Family",
    "OperationKind",
    "Stream",
    "Trigger",
    "TriggerKind",
    "action",
    "actions_of",
    "family",
    "spec_actions",
    "spec_triggers",
    "trigger",
    "triggers_of",
]

CONNECTION_PREFIX = "/connections/{connection_id}"

ModelRef = type[BaseModel] | str
"""A boundary model, or the name of one in :mod:`sfconnector.models` that is imported when first
read (``body_model``, ``output_model``, ``params_model``): the attachments family's models and the
trigger params load only in the functions that use them."""


def _model(ref: ModelRef) -> type[BaseModel]:
    if isinstance(ref, str):
        model: type[BaseModel] = getattr(importlib.import_module("sfconnector.models"), ref)
        return model
    return ref


class OperationKind(StrEnum):
    """What an action does. Each kind has one generic implementation, chosen through
    :data:`sfconnector.api.registry.OPERATIONS` (add a kind there to add a new behaviour)."""

    CREATE = "create"
    GET = "get"
    UPDATE = "update"
    DELETE = "delete"
    FIND = "find"
    UPSERT = "upsert"
    CREATE_CHILD = "create_child"
    """Create a record of ``child_sobject`` under the parent id in the path (case / feed comments)."""
    FIND_ALL = "find_all"
    """Every record matching a guarded SOQL condition (contact roles)."""
    QUERY = "query"
    """Find many: one keyset page of the records matching criteria / a guarded condition."""
    BATCH = "batch"
    """Up to 200 creates, updates, upserts or deletes in one sObject Collections call."""
    ATTACHMENT_IDS = "attachment_ids"
    ATTACHMENT_CONTENT = "attachment_content"
    ATTACHMENT_ADD = "attachment_add"
    FILE_ADD = "file_add"
    """Salesforce Files: a ContentVersion published to a record (``sfconnector.actions.files``)."""
    FILE_LIST = "file_list"
    FILE_CONTENT = "file_content"
    FILE_VERSION = "file_version"
    BULK_CREATE = "bulk_create"
    """A Bulk API 2.0 ingest job (records as JSON or a payload-bucket CSV)."""
    BULK_QUERY = "bulk_query"
    BULK_GET = "bulk_get"
    BULK_ABORT = "bulk_abort"
    BULK_RESULTS = "bulk_results"
    CONVERT_LEAD = "convert_lead"
    """The SOAP API's convertLead (REST has no conversion resource): docs/api.md "Convert lead"."""
    CAMPAIGN_MEMBER_ADD = "campaign_member_add"
    CAMPAIGN_MEMBER_REMOVE = "campaign_member_remove"
    CAMPAIGN_MEMBERS_LIST = "campaign_members_list"


class TriggerKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    ENTERED_LIST_VIEW = "entered_list_view"
    FIELD_MATCHED = "field_matched"
    COMMENT_CREATED = "comment_created"
    COMMENT_UPDATED = "comment_updated"
    RECORD_CREATED = "record_created"
    RECORD_UPDATED = "record_updated"
    DELETED = "deleted"
    """Supplementary (``in_spec=False``): the poller's ``queryAll`` returns deleted rows for free."""


class ChangeEvent(StrEnum):
    """What a change-stream row can be: the ``event_type`` SNS attribute of an event."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    MATCHED = "matched"
    ENTERED = "entered"


@dataclass(frozen=True)
class Stream:
    """How a trigger kind reads its sObject's change stream, declared as data (a Singer-style stream
    definition): the poller has one generic implementation that reads these fields.

    Every stream of an sObject is served by ONE query ordered by the replication key
    (``SystemModstamp``, then ``Id``); a stream picks the rows it fires for and names the field
    whose value identifies the change (the record version, part of the event id).
    """

    event: ChangeEvent
    version_field: str
    """The field identifying the change: CreatedDate (once per record), LastModifiedDate (every
    real modification; a SystemModstamp-only change does not move it) or SystemModstamp (a deletion)."""
    actor_field: str
    """Who made the change (``ignore_own_changes`` compares it with the connection's user)."""
    rows: Literal["live", "deleted", "any"]
    """Which rows qualify: live records, ``IsDeleted`` rows of ``queryAll``, or both (a record
    created and deleted inside one window still fires created: the creation happened)."""
    modified_only: bool = False
    """Only rows whose version is later than their CreatedDate (a real modification)."""
    history: str | None = None
    """The child relationship of the object's field history (``Histories``): its rows ride in the
    same query as a parent-child subquery and each one is a change (field matched)."""
    list_view: bool = False
    """Entered list view: membership is the list view's own SOQL restricted to the window (one more
    query in the same Composite requests); the object's rows tell exits (changed, no longer in it)."""


REPLICATION_KEY = "SystemModstamp"
SYSTEM_FIELDS: tuple[str, ...] = (
    "Id",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsDeleted",
)
"""Selected by every trigger query whatever the subscriptions' ``fields``."""

_CREATED = Stream(ChangeEvent.CREATED, "CreatedDate", "CreatedById", "any")
_UPDATED = Stream(ChangeEvent.UPDATED, "LastModifiedDate", "LastModifiedById", "live", modified_only=True)
_DELETED = Stream(ChangeEvent.DELETED, "SystemModstamp", "LastModifiedById", "deleted")

STREAMS: dict[TriggerKind, Stream] = {
    TriggerKind.CREATED: _CREATED,
    TriggerKind.COMMENT_CREATED: _CREATED,
    TriggerKind.RECORD_CREATED: _CREATED,
    TriggerKind.UPDATED: _UPDATED,
    TriggerKind.COMMENT_UPDATED: _UPDATED,
    TriggerKind.RECORD_UPDATED: _UPDATED,
    TriggerKind.DELETED: _DELETED,
    TriggerKind.FIELD_MATCHED: Stream(
        ChangeEvent.MATCHED, "LastModifiedDate", "LastModifiedById", "live", history="Histories"
    ),
    TriggerKind.ENTERED_LIST_VIEW: Stream(
        ChangeEvent.ENTERED, "SystemModstamp", "LastModifiedById", "live", list_view=True
    ),
}
"""The stream of each record-change kind. Field matched reads the
watched field's History rows (history-tracked fields) or, for untracked ones, the poller's
snapshot of the field."""


@dataclass(frozen=True)
class Family:
    """An object family: one Lambda function, one route segment, one sObject (or a chosen one)."""

    key: str
    """Stable key, also the route segment and the ``functions/<key>/`` directory."""
    title: str
    """The family's heading in the product spec ("Line Items")."""
    sobject: str | None
    """The sObject the family works on; None when the caller names it (custom objects)."""
    label: str
    """Singular label used in messages ("Opportunity Line Item")."""
    example: dict[str, Any] = field(default_factory=dict)
    """A typical create body, used in the OpenAPI document, docs and ``events/``. The examples are
    accepted by the demo org (the emulator's seed): the contract tests send each one."""
    upsert_match: str = "External_Id__c"
    """The match field of the upsert example (a unique field the family's records usually have)."""
    any_object: bool = False
    """``sobject`` None: any sObject the org has, named in the path (not only custom ones)."""

    @property
    def segment(self) -> str:
        return self.key

    @property
    def base_route(self) -> str:
        if self.any_object:
            return f"{CONNECTION_PREFIX}/{self.segment}/{{sobject}}/records"
        if self.sobject is None:
            return f"{CONNECTION_PREFIX}/{self.segment}/{{sobject}}"
        return f"{CONNECTION_PREFIX}/{self.segment}"

    @property
    def function_name(self) -> str:
        """Logical id of the family's function in template.yaml (``LineItemsFunction``)."""
        return "".join(part.capitalize() for part in self.key.split("_")) + "Function"


@dataclass(frozen=True)
class Action:
    key: str
    """``<family>.<name>``, e.g. ``accounts.create``."""
    title: str
    """As in the product spec ("Create Account")."""
    description: str
    family: str
    sobject: str | None
    """The sObject written or read; None when the route names it (custom objects)."""
    kind: OperationKind
    method: str
    route: str
    """Full path template, e.g. ``/connections/{connection_id}/accounts/{record_id}``."""
    body: ModelRef | None
    """The request body's model (see ``body_model``); None when there is no body."""
    output: ModelRef
    """The answer's model (see ``output_model``)."""
    status_code: int = 200
    idempotent_create: bool = False
    """Honours an ``Idempotency-Key`` header (create-type actions)."""
    in_spec: bool = True
    parent_sobject: str | None = None
    """CREATE_CHILD: the parent's sObject (the id in the path must be one)."""
    parent_field: str | None = None
    """CREATE_CHILD: the child's field that points at the parent (``ParentId``)."""
    required_fields: tuple[str, ...] = ()
    """Fields required on create beyond what the describe marks required (CaseComment.CommentBody)."""
    example: Mapping[str, Any] | None = None
    """The request body's example in the OpenAPI document, when it is not derived from the
    family's ``example`` (comments, find all, attachments)."""
    note: str = ""
    """What the OpenAPI description adds to ``description`` (semantics a caller must know)."""
    faults: tuple[Fault, ...] = ()
    """Failures this action can answer beyond the ones every action can (documented per action)."""

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def path_params(self) -> tuple[str, ...]:
        params: list[str] = []
        for part in self.route.split("/"):
            if part.startswith("{") and part.endswith("}"):
                params.append(part[1:-1])
        return tuple(params)

    @property
    def success_statuses(self) -> tuple[int, ...]:
        """The 2xx statuses the action answers: 201 or 200 for the kinds that create or find the
        record already there (upsert, add campaign member), else ``status_code``."""
        if self.kind in (OperationKind.UPSERT, OperationKind.CAMPAIGN_MEMBER_ADD):
            return (200, 201)
        return (self.status_code,)

    @property
    def target_sobject(self) -> str | None:
        """The sObject the action writes (the child for CREATE_CHILD)."""
        return self.sobject

    @property
    def body_model(self) -> type[BaseModel] | None:
        return None if self.body is None else _model(self.body)

    @property
    def output_model(self) -> type[BaseModel]:
        return _model(self.output)


@dataclass(frozen=True)
class Trigger:
    key: str
    title: str
    description: str
    family: str
    sobject: str | None
    """The sObject polled; None when the subscription names it (custom objects)."""
    kind: TriggerKind
    params: ModelRef
    in_spec: bool = True
    link_field: str | None = None
    """A reference field of the polled rows that ``params.linked_object`` filters on (only rows
    whose value is an id of that object fire): files.created's ``FirstPublishLocationId``."""

    @property
    def params_model(self) -> type[BaseModel]:
        return _model(self.params)

    @property
    def stream(self) -> Stream | None:
        """How the poller reads this trigger's changes (None: a kind not served yet)."""
        return STREAMS.get(self.kind)


# ------------------------------------------------------------------------------------------ families

FAMILIES: tuple[Family, ...] = (
    Family("accounts", "Accounts", "Account", "Account", {"Name": "Acme Corporation", "Industry": "Energy"}),
    Family(
        "contacts",
        "Contacts",
        "Contact",
        "Contact",
        {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"},
        upsert_match="Email",
    ),
    Family(
        "leads",
        "Leads",
        "Lead",
        "Lead",
        {"FirstName": "Grace", "LastName": "Hopper", "Company": "Navy Labs", "Email": "grace@example.com"},
        upsert_match="Email",
    ),
    Family(
        "opportunities",
        "Opportunities",
        "Opportunity",
        "Opportunity",
        {"Name": "Acme - 500 units", "StageName": "Prospecting", "CloseDate": "2025-06-30", "Amount": 50000},
    ),
    Family(
        "cases",
        "Cases",
        "Case",
        "Case",
        {"Subject": "Cannot log in", "Status": "New", "Origin": "Web", "Priority": "High"},
    ),
    Family("products", "Products", "Product2", "Product", {"Name": "Widget XL", "ProductCode": "WX-1"}),
    Family(
        "tasks",
        "Tasks",
        "Task",
        "Task",
        {"Subject": "Call back", "Status": "Not Started", "Priority": "Normal", "ActivityDate": "2025-06-30"},
    ),
    Family(
        "events",
        "Events",
        "Event",
        "Event",
        {"Subject": "Demo", "StartDateTime": "2025-06-30T15:00:00Z", "DurationInMinutes": 60},
    ),
    Family(
        "line_items",
        "Line Items",
        "OpportunityLineItem",
        "Opportunity Line Item",
        {
            "OpportunityId": "006Hs08To00004vIEA",
            "PricebookEntryId": "01uHs08To00004dIEA",
            "Quantity": 2,
            "UnitPrice": 250,
        },
    ),
    Family(
        "associations",
        "Associations",
        "OpportunityContactRole",
        "Opportunity Contact Role",
        {"OpportunityId": "006Hs08To00004vIEA", "ContactId": "003Hs08To00001fIEA", "Role": "Decision Maker"},
    ),
    Family("attachments", "Attachments", "Attachment", "Attachment"),
    Family("files", "Files", "ContentVersion", "File"),
    Family("campaigns", "Campaigns", "Campaign", "Campaign", {"Name": "Spring Webinar", "IsActive": True}),
    Family(
        "custom_objects",
        "Custom Objects",
        None,
        "Custom Record",
        {"Name": "INV-0001", "Invoice_Number__c": "INV-2026-0001", "Amount__c": 120.5},
    ),
    Family(
        "objects",
        "Any Object",
        None,
        "Record",
        # Examples on the demo org's custom object (as the path's example): its demo records can be
        # deleted (a price book's cannot while its entries are used).
        {"Name": "INV-0002", "Invoice_Number__c": "INV-2026-0002", "Amount__c": 80},
        upsert_match="Invoice_Number__c",
        any_object=True,
    ),
)

SERVICE_FAMILIES: tuple[Family, ...] = (Family("bulk", "Bulk jobs", None, "Bulk job"),)
"""Functions beside the product spec's 12 object families, declared the same way (their actions
are supplementary, ``in_spec=False``, and name their routes): Bulk API 2.0 jobs on any object."""

_FAMILY_BY_KEY = {f.key: f for f in (*FAMILIES, *SERVICE_FAMILIES)}

DEMO_IDS: dict[str, str] = {
    "Account": "001Hs08To00000VIEQ",
    "Contact": "003Hs08To00001hIEA",
    "Lead": "00QHs08To00003lMEA",
    "Opportunity": "006Hs08To00004vIEA",
    "Case": "500Hs08To000088IEA",
    "Product2": "01tHs08To00004ZIEQ",
    "Task": "00THs08To00009uMEA",
    "Event": "00UHs08To0000AYMEY",
    "OpportunityLineItem": "00kHs08To000065IEA",
    "OpportunityContactRole": "00KHs08To00007eMEA",
    "Attachment": "00PHs08To0000B2MEI",
    "ContentDocument": "069Hs08To0000CbIEI",
    "ContentVersion": "068Hs08To0000CaIEI",
    "FeedItem": "0D5Hs08To0000BEKEY",
    "Invoice__c": "a0IHs08To0000C2MEI",
    "Campaign": "701Hs08To0000CvIEI",
    "CampaignMember": "00vHs08To0000CyIEI",
}
"""Records of the demo org (the emulator's seed) by sObject: the examples of the record ids in the
OpenAPI document, so that every example there works against the demo org (records nothing else
depends on, so that the delete examples succeed too)."""


# ------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class _Shape:
    """How a standard record action looks on the wire (its route is the family's base + ``suffix``)."""

    kind: OperationKind
    method: str
    suffix: str
    body_model: ModelRef | None
    output_model: ModelRef
    status_code: int = 200
    note: str = ""
    faults: tuple[Fault, ...] = ()


_IDEMPOTENCY_NOTE = "Send an `Idempotency-Key` header to make retries safe."

_STANDARD: dict[str, _Shape] = {
    "create": _Shape(
        OperationKind.CREATE,
        "POST",
        "",
        RecordFields,
        RecordResult,
        status_code=201,
        note=_IDEMPOTENCY_NOTE,
        faults=(Fault.CONFLICT,),
    ),
    "update": _Shape(
        OperationKind.UPDATE,
        "PATCH",
        "/{record_id}",
        RecordFields,
        RecordResult,
        faults=(Fault.CONFLICT,),  # duplicate rules, a locked record
    ),
    "delete": _Shape(
        OperationKind.DELETE,
        "DELETE",
        "/{record_id}",
        None,
        DeleteResult,
        note="Idempotent: deleting a record already in the recycle bin returns `already_deleted: true`.",
        faults=(Fault.CONFLICT,),  # a locked record
    ),
    "get": _Shape(OperationKind.GET, "GET", "/{record_id}", None, RecordResult),
    "find": _Shape(
        OperationKind.FIND,
        "POST",
        "/find",
        FindInput,
        FindResult,
        note="Returns `found: false` (200) when nothing matches, with `match_count`.",
    ),
    "upsert": _Shape(
        OperationKind.UPSERT,
        "PUT",
        "/upsert",
        UpsertInput,
        UpsertResult,
        note="By an External ID field: one Salesforce call. By another field (Email): a lookup, "
        "then the write; several matches are a 409 listing `candidate_ids`.",
        faults=(Fault.CONFLICT,),
    ),
    "query": _Shape(
        OperationKind.QUERY,
        "POST",
        "/query",
        "QueryInput",
        "QueryPage",
        note="One Salesforce call per page. While `next` is not null, send the same body with it for "
        "the next page (keyset paging: pages never expire; a token answers only this connection "
        "and this query).",
        faults=(Fault.MALFORMED,),
    ),
    "batch": _Shape(
        OperationKind.BATCH,
        "POST",
        "/batch",
        "BatchInput",
        "BatchResult",
        note="Up to 200 records in ONE Salesforce call (sObject Collections); per-record results in "
        "input order. " + _IDEMPOTENCY_NOTE,
        faults=(Fault.CONFLICT,),
    ),
}

_MANY: tuple[tuple[str, str, str], ...] = (
    (
        "query",
        "Find Many {plural}",
        "Finds every {label} matching criteria or a condition, one page at a time.",
    ),
    (
        "batch",
        "Batch Write {plural}",
        "Creates, updates, upserts or deletes up to 200 {label} records at once.",
    ),
)


def _record_actions(
    fam: Family,
    specs: Iterable[tuple[str, str, str]],
    *,
    supplementary_get: bool = True,
    in_spec: bool = True,
) -> list[Action]:
    """The standard record actions of a family: (name, title, spec description) per action, plus
    the supplementary ones: get by id (``supplementary_get``), find many and batch writes."""
    out = [
        _standard_action(fam, name, title, description, in_spec=in_spec) for name, title, description in specs
    ]
    if supplementary_get:
        title, description = (
            f"Get {fam.label} by ID",
            f"Retrieves a {fam.label} record by its Salesforce record ID.",
        )
        out.append(_standard_action(fam, "get", title, description, in_spec=False))
    for name, title, description in _MANY:
        out.append(
            _standard_action(
                fam,
                name,
                title.format(plural=fam.title),
                description.format(label=fam.label),
                in_spec=False,
            )
        )
    return out


def _standard_action(fam: Family, name: str, title: str, description: str, *, in_spec: bool = True) -> Action:
    shape = _STANDARD.get(name)
    if shape is None:
        raise ValueError(f"no standard action named {name!r}")
    return Action(
        key=f"{fam.key}.{name}",
        title=title,
        description=description,
        family=fam.key,
        sobject=fam.sobject,
        kind=shape.kind,
        method=shape.method,
        route=fam.base_route + shape.suffix,
        body=shape.body_model,
        output=shape.output_model,
        status_code=shape.status_code,
        idempotent_create=shape.kind in (OperationKind.CREATE, OperationKind.BATCH),
        in_spec=in_spec,
        note=shape.note,
        faults=shape.faults,
    )


def _comment_action(
    fam: Family,
    name: str,
    title: str,
    description: str,
    sobjects: tuple[str, str, str],
    suffix: str,
    example: Mapping[str, Any],
) -> Action:
    """A comment created under the parent record in the path; ``sobjects`` = (comment sObject,
    parent sObject, the comment's field pointing at the parent)."""
    sobject, parent_sobject, parent_field = sobjects
    return Action(
        key=f"{fam.key}.{name}",
        title=title,
        description=description,
        family=fam.key,
        sobject=sobject,
        kind=OperationKind.CREATE_CHILD,
        method="POST",
        route=fam.base_route + suffix,
        body=RecordFields,
        output=RecordResult,
        status_code=201,
        idempotent_create=True,
        parent_sobject=parent_sobject,
        parent_field=parent_field,
        required_fields=("CommentBody",),
        example=example,
        note=_IDEMPOTENCY_NOTE,
        faults=(Fault.CONFLICT,),
    )


def _crud(label: str, plural_desc: str, *, upsert: bool) -> list[tuple[str, str, str]]:
    """The spec's wording for the usual create/update/delete/find(/upsert) set of a family."""
    article = "an" if label[0] in "AEIOU" else "a"
    specs = [
        ("create", f"Create {label}", f"Creates a new {plural_desc} record in Salesforce."),
        ("update", f"Update {label}", f"Updates an existing {plural_desc} in Salesforce."),
        ("delete", f"Delete {label}", f"Permanently deletes {article} {plural_desc} by its ID."),
        ("find", f"Find {label}", f"Retrieves a single {plural_desc} record based on the provided data."),
    ]
    if upsert:
        specs.append(
            (
                "upsert",
                f"Upsert {label}",
                f"Creates a new {label} or updates an existing one based on a selected unique field.",
            )
        )
    return specs


def _build_actions() -> tuple[Action, ...]:
    fam = _FAMILY_BY_KEY
    actions: list[Action] = []
    actions += _record_actions(fam["accounts"], _crud("Account", "account", upsert=True))
    actions += _record_actions(fam["contacts"], _crud("Contact", "contact", upsert=True))
    actions += _record_actions(fam["leads"], _crud("Lead", "lead", upsert=True))
    actions += _record_actions(fam["opportunities"], _crud("Opportunity", "opportunity", upsert=True))

    cases = fam["cases"]
    actions += _record_actions(cases, _crud("Case", "case", upsert=False))
    actions.append(
        _comment_action(
            cases,
            "add_comment",
            "New Comment in Case",
            "Creates a new CaseComment record associated with a specific Case.",
            ("CaseComment", "Case", "ParentId"),
            "/{record_id}/comments",
            {"CommentBody": "Customer called back; issue resolved.", "IsPublished": True},
        )
    )

    actions += _record_actions(fam["products"], _crud("Product", "product", upsert=False))
    actions += _record_actions(fam["tasks"], _crud("Task", "task", upsert=False))
    actions += _record_actions(fam["events"], _crud("Event", "event", upsert=False))
    actions += _record_actions(
        fam["line_items"], _crud("Opportunity Line Item", "Opportunity Line Item", upsert=False)
    )

    assoc = fam["associations"]
    label = "Opportunity Contact Role"
    actions += _record_actions(
        assoc,
        [
            ("create", f"Create {label}", f"Creates a new {label} record in Salesforce."),
            ("update", f"Update {label}", f"Updates an existing {label} in Salesforce."),
            ("delete", f"Delete {label}", f"Permanently deletes an {label} by its ID."),
            (
                "get",
                f"Find {label} by ID",
                "Retrieves an OpportunityContactRole record directly by its Salesforce record ID.",
            ),
        ],
        supplementary_get=False,
    )
    actions.append(
        Action(
            key="associations.find_all",
            title="Find All Opportunity Contact Roles",
            description="Finds Opportunity Contact Roles using SOQL query.",
            family=assoc.key,
            sobject=assoc.sobject,
            kind=OperationKind.FIND_ALL,
            method="POST",
            route=f"{assoc.base_route}/find_all",
            body=FindAllInput,
            output=QueryResult,
            example={"condition": "OpportunityId = '006000000000001AAA' AND IsPrimary = true", "limit": 50},
            faults=(Fault.MALFORMED,),  # the query Salesforce refused
            note="The condition is parsed and re-emitted by a guard: it can only ever query "
            "OpportunityContactRole. Pages: while `has_more`, send the same body with the answer's "
            "`next_page` for the next records.",
        )
    )

    att = fam["attachments"]
    actions += [
        Action(
            key="attachments.get_content",
            title="Get Attachment Content",
            description="Fetches a specific attachment by its ID and returns its file content encoded "
            "in Base64.",
            family=att.key,
            sobject="Attachment",
            kind=OperationKind.ATTACHMENT_CONTENT,
            method="GET",
            route=f"{att.base_route}/{{record_id}}/content",
            body=None,
            output="AttachmentContentResult",
            faults=(Fault.TOO_LARGE,),
        ),
        Action(
            key="attachments.list_ids",
            title="Get Attachment IDs",
            description="Fetches a list of all attachment IDs associated with a specific parent record "
            "(e.g., an Account, Contact, or Case).",
            family=att.key,
            sobject="Attachment",
            kind=OperationKind.ATTACHMENT_IDS,
            method="GET",
            route=f"{att.base_route}/parents/{{parent_id}}",
            body=None,
            output="AttachmentIdsResult",
            faults=(Fault.TOO_LARGE,),
        ),
        Action(
            key="attachments.add",
            title="Add Attachment",
            description="Attaches a file to a Salesforce record from a public URL or a Base64 string.",
            family=att.key,
            sobject="Attachment",
            kind=OperationKind.ATTACHMENT_ADD,
            method="POST",
            route=att.base_route,
            body="AddAttachmentInput",
            output=RecordResult,
            status_code=201,
            idempotent_create=True,
            example={
                "parent_id": DEMO_IDS["Account"],
                "name": "notes.txt",
                "content_base64": "TWVldGluZyBub3RlczogcmVuZXdhbCBhZ3JlZWQu",
                "content_type": "text/plain",
                "description": "Meeting notes",
            },
            faults=(Fault.CONFLICT, Fault.TOO_LARGE),
        ),
        _comment_action(
            att,
            "add_feed_comment",
            "Add Feed Comment",
            "Creates a new FeedComment record associated with a specific FeedItem.",
            ("FeedComment", "FeedItem", "FeedItemId"),
            "/feed_items/{record_id}/comments",
            {"CommentBody": "Looks good to me."},
        ),
    ]

    actions += _file_actions(fam["files"])
    actions += _campaign_actions(fam["leads"], fam["campaigns"])

    custom = fam["custom_objects"]
    actions += _record_actions(
        custom,
        [
            ("create", "Create Custom Module", "Creates a custom record in the selected Salesforce module"),
            ("update", "Update Custom Module", "Update an existing record of custom module in Salesforce"),
            (
                "delete",
                "Delete Custom Records By ID",
                "Permanently deletes a record in the selected Salesforce module by its ID.",
            ),
            ("get", "Get Custom Record By ID", "Get a custom record in the selected Salesforce module"),
        ],
        supplementary_get=False,
    )

    # Any object (issue 20): the families stay the named entry points; this serves the rest.
    objects = fam["objects"]
    actions += _record_actions(
        objects,
        [
            ("create", "Create Record", "Creates a record of any object of the org."),
            ("get", "Get Record by ID", "Retrieves a record of any object by its Salesforce record ID."),
            ("update", "Update Record", "Updates a record of any object."),
            ("delete", "Delete Record", "Deletes a record of any object by its ID."),
            ("upsert", "Upsert Record", "Creates or updates a record of any object by an External ID field."),
        ],
        supplementary_get=False,
        in_spec=False,
    )
    return tuple(actions)


def _file_actions(files: Family) -> list[Action]:
    """Salesforce Files (issue 19): supplementary to the spec's attachment actions, which keep the
    classic Attachment object (docs/api.md, "Attachments or files")."""
    source = {"name": "notes.txt", "content_base64": "TWVldGluZyBub3RlczogcmVuZXdhbCBhZ3JlZWQu"}
    return [
        Action(
            key="files.add",
            title="Add File",
            description="Adds a file to a record as a Salesforce File (a ContentVersion linked to the "
            "record) from a Base64 string, a public URL or an object of the payload bucket.",
            family=files.key,
            sobject="ContentVersion",
            kind=OperationKind.FILE_ADD,
            method="POST",
            route=files.base_route,
            body="AddFileInput",
            output="FileResult",
            status_code=201,
            idempotent_create=True,
            in_spec=False,
            example={"parent_id": DEMO_IDS["Account"], **source, "title": "Meeting notes"},
            note="Up to 2 GB from `url` or `s3_key` (streamed through the payload bucket, never whole in "
            "memory); `content_base64` is for what fits a request. The record's link is the one Salesforce "
            "makes for a file published to it (share type V, visibility AllUsers) unless `share_type` or "
            "`visibility` choose otherwise.",
            faults=(Fault.CONFLICT, Fault.TOO_LARGE),
        ),
        Action(
            key="files.list",
            title="List Files",
            description="Lists the Salesforce Files linked to a record, newest first, with title, type, size "
            "and version.",
            family=files.key,
            sobject="ContentDocumentLink",
            kind=OperationKind.FILE_LIST,
            method="GET",
            route=f"{files.base_route}/parents/{{parent_id}}",
            body=None,
            output="FileListResult",
            in_spec=False,
        ),
        Action(
            key="files.get_content",
            title="Get File Content",
            description="Returns a file's content (its latest version for a ContentDocument id, or the "
            "ContentVersion named): Base64 when small, a short-lived download URL when large.",
            family=files.key,
            sobject="ContentVersion",
            kind=OperationKind.FILE_CONTENT,
            method="GET",
            route=f"{files.base_route}/{{file_id}}/content",
            body=None,
            output="FileContentResult",
            in_spec=False,
            faults=(Fault.TOO_LARGE,),
        ),
        Action(
            key="files.new_version",
            title="Upload New File Version",
            description="Uploads a new version of an existing file (ContentDocument): it becomes the "
            "file's latest version on every record the file is linked to.",
            family=files.key,
            sobject="ContentVersion",
            kind=OperationKind.FILE_VERSION,
            method="POST",
            route=f"{files.base_route}/{{document_id}}/versions",
            body="NewFileVersionInput",
            output="FileResult",
            status_code=201,
            idempotent_create=True,
            in_spec=False,
            example={**source, "reason_for_change": "Updated figures"},
            faults=(Fault.CONFLICT, Fault.TOO_LARGE),
        ),
    ]


def _campaign_actions(leads: Family, campaigns: Family) -> list[Action]:
    """Lead conversion (the leads function) and campaign membership (the campaigns function)."""
    members = f"{campaigns.base_route}/{{campaign_id}}/members"
    return [
        Action(
            key="leads.convert",
            title="Convert Lead",
            description="Converts a lead into an account and a contact (new ones, or existing ones to "
            "merge into) and, optionally, an opportunity.",
            family=leads.key,
            sobject="Lead",
            kind=OperationKind.CONVERT_LEAD,
            method="POST",
            route=f"{leads.base_route}/{{record_id}}/convert",
            body="ConvertLeadInput",
            output="ConvertLeadResult",
            in_spec=False,
            example={"converted_status": "Closed - Converted", "opportunity_name": "Navy Labs - pilot"},
            note="One Salesforce call: the SOAP API's `convertLead` (the REST API has no conversion "
            "resource). A lead already converted is a 409; a status that is not a converted one, or an id "
            "of the wrong object, a 422 naming the field.",
            faults=(Fault.CONFLICT,),
        ),
        Action(
            key="campaigns.add_member",
            title="Add Lead or Contact to Campaign",
            description="Adds a lead or a contact to a campaign with a member status; a person already in "
            "the campaign gets the status (idempotent).",
            family=campaigns.key,
            sobject="CampaignMember",
            kind=OperationKind.CAMPAIGN_MEMBER_ADD,
            method="POST",
            route=members,
            body="AddCampaignMemberInput",
            output="CampaignMemberResult",
            status_code=201,
            in_spec=False,
            example={"lead_id": DEMO_IDS["Lead"], "status": "Responded"},
            note="201 with `created: true` for a new member, 200 with `created: false` when the person was "
            "already one (its status updated when `status` differs). One Salesforce call, two when an "
            "existing member's status changes.",
            faults=(Fault.CONFLICT,),
        ),
        Action(
            key="campaigns.remove_member",
            title="Remove Campaign Member",
            description="Removes a lead or a contact from a campaign.",
            family=campaigns.key,
            sobject="CampaignMember",
            kind=OperationKind.CAMPAIGN_MEMBER_REMOVE,
            method="DELETE",
            route=f"{members}/{{member_id}}",
            body=None,
            output="RemoveCampaignMemberResult",
            in_spec=False,
            note="`member_id` is the CampaignMember id, or the lead's or contact's id. Idempotent: removing "
            "someone who is not a member answers `removed: false`.",
        ),
        Action(
            key="campaigns.list_members",
            title="List Campaign Members",
            description="Lists a campaign's members (leads and contacts) with their statuses, page by page.",
            family=campaigns.key,
            sobject="CampaignMember",
            kind=OperationKind.CAMPAIGN_MEMBERS_LIST,
            method="GET",
            route=members,
            body=None,
            output="CampaignMembersPage",
            in_spec=False,
            note="Pages of `limit` members (default 100, at most 200) in id order; while "
            "`next_page_token` is set, send it as `page_token` for the next page. One Salesforce call "
            "per page.",
        ),
    ]


def _bulk_actions() -> tuple[Action, ...]:
    """The bulk function's actions (Bulk API 2.0; models in :mod:`sfconnector.models.bulk`)."""
    base = f"{CONNECTION_PREFIX}/bulk"
    job = f"{base}/jobs/{{job_id}}"
    too_large = (Fault.TOO_LARGE,)
    Spec = tuple[str, str, str, OperationKind, str, str, str | None, str, int, tuple[Fault, ...], str]
    specs: list[Spec] = [
        (
            "create_job", "Create Bulk Job",
            "Starts a Bulk API 2.0 ingest job (insert, update, upsert, delete, hard delete) on any object.",
            OperationKind.BULK_CREATE, "POST", f"{base}/jobs", "BulkJobInput", "BulkJob", 201, too_large,
            "Salesforce calls: 3 whatever the size (create, upload, close), + 1 describe when not cached. "
            "Columns and JSON values are checked against the describe first; the rest fails per row "
            "(failed results, Salesforce's reason). `bulk_job.finished` is published when it ends.",
        ),
        (
            "create_query", "Create Bulk Query",
            "Starts a Bulk API 2.0 query job exporting fields of any object (a guarded condition).",
            OperationKind.BULK_QUERY, "POST", f"{base}/queries", "BulkQueryInput", "BulkJob", 201, (),
            "Salesforce calls: 1 (+ 1 describe when not cached). The records are read with "
            "`results/records` (streamed to the payload bucket, a presigned URL) once it finished.",
        ),
        (
            "get_job", "Get Bulk Job", "The job's state and progress (records processed and failed).",
            OperationKind.BULK_GET, "GET", job, None, "BulkJob", 200, (), "Salesforce calls: 1.",
        ),
        (
            "abort_job", "Abort Bulk Job", "Aborts a job that has not finished.",
            OperationKind.BULK_ABORT, "DELETE", job, None, "BulkJob", 200, (Fault.CONFLICT,),
            "Salesforce calls: 1. Idempotent: a job that already finished is answered as it is "
            "(`finished: true`, 1 more call).",
        ),
        (
            "get_results", "Get Bulk Job Results",
            "An ingest job's successful, failed or unprocessed rows, or a query job's records.",
            OperationKind.BULK_RESULTS, "GET", f"{job}/results/{{which}}", None, "BulkResults", 200,
            (Fault.CONFLICT,),
            "Salesforce calls: 1 (a query: 1 per 50,000 records). Up to 1,000 rows come back as JSON, "
            "more as a presigned URL of the CSV (query records: always the URL). Before the job "
            "finished: 409 `job_state`.",
        ),
    ]  # fmt: skip
    examples: dict[str, Mapping[str, Any]] = {
        "create_job": {
            "object": "Account",
            "operation": "upsert",
            "external_id_field": "External_Id__c",
            "records": [
                {"External_Id__c": "ACC-9001", "Name": "Acme"},
                {"External_Id__c": "ACC-9002", "Name": "Globex"},
            ],
        },
        "create_query": {
            "object": "Account",
            "fields": ["Id", "Name", "Owner.Name"],
            "condition": "Industry = 'Energy'",
        },
    }
    return tuple(
        Action(
            key=f"bulk.{name}",
            title=title,
            description=description,
            family="bulk",
            sobject=None,
            kind=kind,
            method=method,
            route=route,
            body=body,
            output=output,
            status_code=status,
            in_spec=False,
            example=examples.get(name),
            note=note,
            faults=faults,
        )
        for name, title, description, kind, method, route, body, output, status, faults, note in specs
    )


ACTIONS: tuple[Action, ...] = _build_actions() + _bulk_actions()

# ------------------------------------------------------------------------------------------ triggers


def _record_triggers(fam: Family, label: str, kinds: Iterable[TriggerKind]) -> list[Trigger]:
    lower = label.lower()
    article = "an" if lower[0] in "aeiou" else "a"
    text: dict[TriggerKind, tuple[str, str, ModelRef]] = {
        TriggerKind.CREATED: (
            f"New {label}",
            f"This trigger fires when a new {lower} is created in Salesforce.",
            "NoParams",
        ),
        TriggerKind.UPDATED: (
            f"Updated {label}",
            f"This trigger fires when {article} {lower} is updated in Salesforce.",
            "NoParams",
        ),
        TriggerKind.ENTERED_LIST_VIEW: (
            f"New {label} In List",
            f"This trigger fires when a new {label} record appears in a selected list view.",
            "ListViewParams",
        ),
        TriggerKind.FIELD_MATCHED: (
            f"{label} CDC",
            f"This trigger fires when a change event occurs on {article} {label} and a watched field "
            "matches a specific value.",
            "FieldMatchedParams",
        ),
    }
    out = []
    for kind in kinds:
        title, description, params = text[kind]
        out.append(Trigger(f"{fam.key}.{kind.value}", title, description, fam.key, fam.sobject, kind, params))
    return out


def _build_triggers() -> tuple[Trigger, ...]:
    fam = _FAMILY_BY_KEY
    created, updated = TriggerKind.CREATED, TriggerKind.UPDATED
    full = (created, updated, TriggerKind.ENTERED_LIST_VIEW, TriggerKind.FIELD_MATCHED)
    triggers: list[Trigger] = []
    triggers += _record_triggers(fam["accounts"], "Account", full)
    triggers += _record_triggers(fam["contacts"], "Contact", full)
    triggers += _record_triggers(fam["leads"], "Lead", (created, updated))
    triggers += _record_triggers(
        fam["opportunities"], "Opportunity", (created, updated, TriggerKind.FIELD_MATCHED)
    )
    triggers += _record_triggers(fam["cases"], "Case", (created, updated))
    triggers += [
        Trigger(
            "cases.comment_created",
            "New Case Comment",
            "This trigger fires when a new comment is added to a Salesforce Case.",
            "cases",
            "CaseComment",
            TriggerKind.COMMENT_CREATED,
            "NoParams",
        ),
        Trigger(
            "cases.comment_updated",
            "Updated Case Comment",
            "This trigger fires when an existing case comment is modified in Salesforce.",
            "cases",
            "CaseComment",
            TriggerKind.COMMENT_UPDATED,
            "NoParams",
        ),
    ]
    triggers += _record_triggers(fam["cases"], "Case", (TriggerKind.FIELD_MATCHED,))
    triggers += _record_triggers(fam["products"], "Product", (created, updated))
    triggers += _record_triggers(fam["tasks"], "Task", (created, updated))
    triggers += _record_triggers(fam["events"], "Event", (created, updated))
    triggers += [
        Trigger(
            "associations.created",
            "New Opportunity Contact Role",
            "This trigger fires when a contact is associated with an opportunity in Salesforce.",
            "associations",
            "OpportunityContactRole",
            created,
            "NoParams",
        ),
        Trigger(
            "associations.updated",
            "Updated Opportunity Contact Role",
            "This trigger fires when an Opportunity Contact Role is updated in Salesforce.",
            "associations",
            "OpportunityContactRole",
            updated,
            "NoParams",
        ),
        Trigger(
            "line_items.created",
            "New Opportunity Line Item",
            "This trigger fires when a new OpportunityLineItem is created in Salesforce.",
            "line_items",
            "OpportunityLineItem",
            created,
            "NoParams",
        ),
        Trigger(
            "line_items.updated",
            "Updated Opportunity Line Item",
            "This trigger fires when an OpportunityLineItem is updated in Salesforce.",
            "line_items",
            "OpportunityLineItem",
            updated,
            "NoParams",
        ),
        Trigger(
            "custom_objects.record_created",
            "Record Created In Custom Module",
            "This trigger fires when a new record is created in Salesforce under the selected module",
            "custom_objects",
            None,
            TriggerKind.RECORD_CREATED,
            "CustomObjectParams",
        ),
        Trigger(
            "custom_objects.record_updated",
            "Record Updated In Custom Module",
            "This trigger fires when a custom record is updated in Salesforce under the selected module",
            "custom_objects",
            None,
            TriggerKind.RECORD_UPDATED,
            "CustomObjectParams",
        ),
    ]
    triggers.append(
        Trigger(
            "files.created",
            "New File",
            "This trigger fires when a new Salesforce File version (ContentVersion) is uploaded; "
            "FirstPublishLocationId in the event names the record it was published to, and "
            "`linked_object` (e.g. Account) keeps only the files published to records of that object.",
            "files",
            "ContentVersion",
            created,
            "LinkedObjectParams",
            in_spec=False,
            link_field="FirstPublishLocationId",
        )
    )
    triggers.append(
        Trigger(
            "campaign_members.created",
            "New Campaign Member",
            "This trigger fires when a lead or a contact is added to a campaign in Salesforce.",
            "campaigns",
            "CampaignMember",
            created,
            "NoParams",
            in_spec=False,
        )
    )
    triggers += _deleted_triggers()
    return tuple(triggers)


_DELETED_FAMILIES = (
    ("accounts", "Account"),
    ("contacts", "Contact"),
    ("leads", "Lead"),
    ("opportunities", "Opportunity"),
    ("cases", "Case"),
    ("products", "Product"),
    ("tasks", "Task"),
    ("events", "Event"),
    ("line_items", "Opportunity Line Item"),
    ("associations", "Opportunity Contact Role"),
    ("custom_objects", "Custom Record"),
)


def _deleted_triggers() -> list[Trigger]:
    """Supplementary "deleted" triggers, one per record family: the poller queries with
    ``queryAll``, so deletions arrive in the query every other trigger of the sObject uses."""
    out = []
    for key, label in _DELETED_FAMILIES:
        fam = _FAMILY_BY_KEY[key]
        params = "CustomObjectParams" if fam.sobject is None else "NoParams"
        out.append(
            Trigger(
                f"{key}.deleted",
                f"Deleted {label}",
                f"This trigger fires when {'an' if label[0] in 'AEIOU' else 'a'} {label.lower()} is deleted "
                "(moved to the recycle bin) in Salesforce.",
                key,
                fam.sobject,
                TriggerKind.DELETED,
                params,
                in_spec=False,
            )
        )
    return out


TRIGGERS: tuple[Trigger, ...] = _build_triggers()

_ACTION_BY_KEY = {a.key: a for a in ACTIONS}
_TRIGGER_BY_KEY = {t.key: t for t in TRIGGERS}


# ------------------------------------------------------------------------------------------- lookups


def family(key: str) -> Family:
    """The family with this key (KeyError naming the known keys otherwise)."""
    try:
        return _FAMILY_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown family {key!r}; known: {', '.join(_FAMILY_BY_KEY)}") from None


def action(key: str) -> Action:
    try:
        return _ACTION_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown action {key!r}") from None


def trigger(key: str) -> Trigger:
    try:
        return _TRIGGER_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown trigger {key!r}") from None


@cache
def actions_of(family_key: str) -> tuple[Action, ...]:
    """Every action a family's function serves (supplementary ones included)."""
    family(family_key)
    return tuple(a for a in ACTIONS if a.family == family_key)


def triggers_of(family_key: str) -> tuple[Trigger, ...]:
    family(family_key)
    return tuple(t for t in TRIGGERS if t.family == family_key)


def spec_actions() -> tuple[Action, ...]:
    """The 54 actions of the product spec (without the supplementary ones)."""
    return tuple(a for a in ACTIONS if a.in_spec)


def spec_triggers() -> tuple[Trigger, ...]:
    """The 30 triggers of the product spec (without the supplementary ones)."""
    return tuple(t for t in TRIGGERS if t.in_spec)


def _check() -> None:
    """Catalog invariants, checked at import (cheap): a typo here must fail every test, not one."""
    keys = [a.key for a in ACTIONS] + [t.key for t in TRIGGERS]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise AssertionError(f"duplicate catalog keys: {sorted(dupes)}")
    routes = [(a.method, a.route) for a in ACTIONS]
    if len(set(routes)) != len(routes):
        raise AssertionError("two actions share a method and route")
    for a in ACTIONS:
        if a.family not in _FAMILY_BY_KEY or not a.key.startswith(f"{a.family}."):
            raise AssertionError(f"action {a.key} has a bad family")
        if not a.route.startswith(f"{CONNECTION_PREFIX}/{a.family}"):
            raise AssertionError(f"action {a.key} is routed outside its family: {a.route}")
        if a.kind is OperationKind.CREATE_CHILD and not (a.parent_sobject and a.parent_field):
            raise AssertionError(f"action {a.key} needs parent_sobject and parent_field")


_check()
