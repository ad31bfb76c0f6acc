"""Writes to the org: create, update, delete and upsert with Salesforce's validation and side effects.

Describe-driven checks (unknown and read-only fields, types, lengths, restricted picklists, required
fields, references, unique values) come first; then the per-object rules a real org enforces or
derives (Event durations, OpportunityLineItem prices and the opportunity's price book, Case numbers,
Opportunity stage fields, compound names and addresses, ...); then system fields and field history.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sfemulator.clock import Clock, format_datetime, parse_datetime
from sfemulator.errors import ApiError, not_found
from sfemulator.ids import IdGenerator, normalize_id
from sfemulator.schema import TEXT_TYPES, FieldDef, Schema, SObjectDef
from sfemulator.store import OrgData, Record
from sfemulator.values import Locator, coerce_value

__all__ = ["Dml", "attachment_body_url"]

_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
_HISTORY_PARENT_FIELD = {
    "AccountHistory": "AccountId",
    "OpportunityFieldHistory": "OpportunityId",
    "CaseHistory": "CaseId",
    "ContactHistory": "ContactId",
}
_HISTORY_TYPES = {
    "string": "Text", "textarea": "TextArea", "picklist": "DynamicEnum", "multipicklist": "MultiEnum",
    "currency": "Currency", "double": "Double", "percent": "Percent", "int": "Integer", "date": "DateOnly",
    "datetime": "DateTime", "boolean": "Boolean", "reference": "EntityId", "email": "Email",
    "phone": "Phone", "url": "Url", "combobox": "DynamicEnum",
}  # fmt: skip
# Stage -> (probability, forecast category, closed, won): the defaults of a new org.
_STAGES: dict[str, tuple[int, str, bool, bool]] = {
    "Prospecting": (10, "Pipeline", False, False),
    "Qualification": (10, "Pipeline", False, False),
    "Needs Analysis": (20, "Pipeline", False, False),
    "Value Proposition": (50, "Pipeline", False, False),
    "Id. Decision Makers": (60, "Pipeline", False, False),
    "Perception Analysis": (70, "Pipeline", False, False),
    "Proposal/Price Quote": (75, "Pipeline", False, False),
    "Negotiation/Review": (90, "Pipeline", False, False),
    "Closed Won": (100, "Closed", True, True),
    "Closed Lost": (0, "Omitted", True, False),
}
_FORECAST_NAMES = {"Pipeline": "Pipeline", "BestCase": "Best Case", "Forecast": "Commit", "Closed": "Closed",
                   "Omitted": "Omitted", "MostLikely": "Most Likely"}  # fmt: skip
_CLOSED_CASE_STATUSES = frozenset({"Closed"})
_CLOSED_TASK_STATUSES = frozenset({"Completed"})
_ADDRESSES = {
    "Account": (("BillingAddress", "Billing"), ("ShippingAddress", "Shipping")),
    "Contact": (("MailingAddress", "Mailing"), ("OtherAddress", "Other")),
    "Lead": (("Address", ""),),
    "User": (("Address", ""),),
}


def attachment_body_url(version: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/Attachment/{record_id}/Body"


def _required(fields: list[str]) -> ApiError:
    return ApiError(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(fields)}]", fields
    )


def _integrity(message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, "FIELD_INTEGRITY_EXCEPTION", message, fields or [])


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class Dml:
    """All writes of one org; callers hold the org lock."""

    def __init__(self, schema: Schema, data: OrgData, ids: IdGenerator, clock: Clock, version: str) -> None:
        self.schema = schema
        self.data = data
        self.ids = ids
        self.clock = clock
        self.version = version

    # ----------------------------------------------------------------------------------------
    # public operations
    # ----------------------------------------------------------------------------------------
    def insert(
        self,
        sobj: SObjectDef,
        values: Mapping[str, Any],
        *,
        user_id: str,
        stamp: dt.datetime | None = None,
        locate: Locator | None = None,
    ) -> str:
        if not sobj.flag("createable"):
            raise ApiError(
                400, "INVALID_TYPE", f"sObject type '{sobj.name}' is not supported for the insert operation"
            )
        ts = format_datetime(stamp or self.clock.now())
        given = self._prepare(sobj, values, create=True, locate=locate)
        blob = self._take_blob(sobj, given)
        rec: Record = dict.fromkeys(sobj.fields)
        rid = self.ids.new(sobj.key_prefix)
        for f in sobj.fields.values():
            if f.name in given or not f.defaulted_on_create:
                continue
            if f.type == "boolean":
                rec[f.name] = f.default_value if isinstance(f.default_value, bool) else False
            elif f.type in ("picklist", "multipicklist") and f.default_picklist_value is not None:
                rec[f.name] = f.default_picklist_value
            elif f.default_value is not None and f.type in TEXT_TYPES:
                rec[f.name] = str(f.default_value)
        rec.update(given)
        rec["Id"] = rid
        if "IsDeleted" in rec:
            rec["IsDeleted"] = False
        for name in _AUDIT:
            if name in sobj.fields:
                rec[name] = user_id if name.endswith("ById") else ts
        if "OwnerId" in sobj.fields and rec.get("OwnerId") is None:
            rec["OwnerId"] = user_id
        for f in sobj.fields.values():
            if f.auto_number and rec.get(f.name) is None:
                n = self.data.autonumbers.get(f"{sobj.name}.{f.name}", 1000) + 1
                self.data.autonumbers[f"{sobj.name}.{f.name}"] = n
                rec[f.name] = f"{n:08d}"
        if sobj.custom and "Name" in sobj.fields and rec.get("Name") is None:
            rec["Name"] = rid
        self._before_write(sobj, rec, None, given, user_id, ts)
        missing = [f.name for f in sobj.fields.values() if f.required_on_create and rec.get(f.name) is None]
        if missing:
            raise _required(missing)
        self._check_references(sobj, given)
        self._check_unique(sobj, rec, None)
        self._derive(sobj, rec, blob)
        self.data.put(sobj.name, rec)
        if blob is not None:
            self.data.set_blob(rid, sobj.name, blob)
        if sobj.history_object:
            self._history(sobj, rid, "created", None, None, None, user_id, ts)
        self._after_write(sobj, rec, None, user_id, ts)
        return rid

    def update(
        self,
        sobj: SObjectDef,
        record_id: str,
        values: Mapping[str, Any],
        *,
        user_id: str,
        stamp: dt.datetime | None = None,
        locate: Locator | None = None,
    ) -> None:
        if not sobj.flag("updateable"):
            raise ApiError(
                400, "INVALID_TYPE", f"sObject type '{sobj.name}' is not supported for the update operation"
            )
        old = self._live(sobj, record_id)
        ts = format_datetime(stamp or self.clock.now())
        given = self._prepare(sobj, values, create=False, locate=locate)
        blob = self._take_blob(sobj, given)
        rec = dict(old)
        rec.update(given)
        self._before_write(sobj, rec, old, given, user_id, ts)
        missing = [
            name
            for name, value in given.items()
            if value is None and not sobj.fields[name].nillable and sobj.fields[name].type != "boolean"
        ]
        if missing:
            raise _required(missing)
        self._check_references(sobj, given)
        self._check_unique(sobj, rec, record_id)
        for name in ("LastModifiedDate", "SystemModstamp"):
            if name in rec:
                rec[name] = ts
        if "LastModifiedById" in rec:
            rec["LastModifiedById"] = user_id
        self._derive(sobj, rec, blob)
        self.data.put(sobj.name, rec)
        if blob is not None:
            self.data.set_blob(record_id, sobj.name, blob)
        for name in sobj.tracked_fields:
            if rec.get(name) != old.get(name):
                self._history(
                    sobj, record_id, name, sobj.fields[name], old.get(name), rec.get(name), user_id, ts
                )
        self._after_write(sobj, rec, old, user_id, ts)

    def delete(
        self, sobj: SObjectDef, record_id: str, *, user_id: str, stamp: dt.datetime | None = None
    ) -> None:
        if not sobj.flag("deletable"):
            raise ApiError(
                400, "INVALID_TYPE", f"sObject type '{sobj.name}' is not supported for the delete operation"
            )
        rec = self._live(sobj, record_id)
        ts = format_datetime(stamp or self.clock.now())
        doomed: list[tuple[SObjectDef, Record]] = []
        self._collect_cascade(sobj, rec, doomed, set())
        doomed_ids = {r["Id"] for _, r in doomed}
        for dsobj, drec in doomed:
            for child, _field, restricted, _ in self._children(dsobj, drec["Id"]):
                if restricted and child["Id"] not in doomed_ids:
                    csobj = self.schema.get(self.data.index[child["Id"]])
                    plural = csobj.raw.get("labelPlural", csobj.name) if csobj else "records"
                    raise ApiError(
                        400,
                        "DELETE_FAILED",
                        f"Your attempt to delete {drec.get('Name') or drec['Id']} could not be completed "
                        f"because it is associated with the following {str(plural).lower()}.: "
                        f"{child.get('Name') or child.get('CaseNumber') or child['Id']}",
                        [],
                    )
        for dsobj, drec in doomed:
            for child, child_field, _restricted, cascade in self._children(dsobj, drec["Id"]):
                if cascade or child["Id"] in doomed_ids or child.get("IsDeleted"):
                    continue
                csobj_name = self.data.index[child["Id"]]
                cleared = dict(child)
                cleared[child_field] = None
                self.data.put(csobj_name, cleared)
        for dsobj, drec in doomed:
            updated = dict(drec)
            for name in ("LastModifiedDate", "SystemModstamp"):
                if name in updated:
                    updated[name] = ts
            if "LastModifiedById" in updated:
                updated["LastModifiedById"] = user_id
            self.data.put(dsobj.name, updated)
            self.data.mark_deleted(drec["Id"], dsobj.name, ts)
        for dsobj, drec in doomed:
            if drec["Id"] != record_id and dsobj.name in ("OpportunityLineItem", "FeedComment"):
                continue
            self._after_delete(dsobj, drec, user_id, ts)

    def undelete(
        self, sobj: SObjectDef, record_id: str, *, user_id: str, stamp: dt.datetime | None = None
    ) -> None:
        """Restore a record from the recycle bin (Apex/SOAP ``undelete``): live again, its
        ``LastModifiedDate``/``SystemModstamp`` and ``LastModifiedById`` moved to the restore (the
        record alone: the children a cascade deleted stay in the bin)."""
        found = self.data.get(record_id)
        if found is None or found[0] != sobj.name or not found[1].get("IsDeleted"):
            raise ApiError(400, "UNDELETE_FAILED", f"{record_id}: not in the recycle bin", [])
        ts = format_datetime(stamp or self.clock.now())
        self.data.touch(record_id, sobj.name)
        rec = dict(found[1])
        rec["IsDeleted"] = False
        for name in ("LastModifiedDate", "SystemModstamp"):
            if name in rec:
                rec[name] = ts
        if "LastModifiedById" in rec:
            rec["LastModifiedById"] = user_id
        self.data.put(sobj.name, rec)
        self.data.deleted_at.pop(record_id, None)

    def upsert(
        self,
        sobj: SObjectDef,
        field_name: str,
        value: str,
        values: Mapping[str, Any],
        *,
        user_id: str,
        locate: Locator | None = None,
    ) -> tuple[str, bool] | list[str]:
        """Insert or update by an external id (or Id); a list of matching ids when several match."""
        f = self.external_id_field(sobj, field_name)
        body = dict(values)
        for key in list(body):
            if key.lower() == f.name.lower():
                given = body.pop(key)
                if given is not None and str(given) != value:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"The value of the field {f.name} in the body does not match the external ID "
                        "in the URL",
                    )
        if f.name == "Id":
            if value == "":
                return self.insert(sobj, body, user_id=user_id, locate=locate), True
            rid = normalize_id(value)
            if rid is None:
                raise ApiError(400, "MALFORMED_ID", f"malformed id {value}")
            self.update(sobj, rid, body, user_id=user_id, locate=locate)
            return rid, False
        matches = self.find_by_value(sobj, f, value)
        if len(matches) > 1:
            return matches
        if matches:
            self.update(sobj, matches[0], body, user_id=user_id, locate=locate)
            return matches[0], False
        body[f.name] = value
        return self.insert(sobj, body, user_id=user_id, locate=locate), True

    def external_id_field(self, sobj: SObjectDef, field_name: str) -> FieldDef:
        f = sobj.field(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        return f

    def find_by_value(self, sobj: SObjectDef, f: FieldDef, value: Any) -> list[str]:
        want = value if f.case_sensitive or not isinstance(value, str) else value.lower()
        out = []
        for rec in self.data.iter(sobj.name, include_deleted=False):
            have = rec.get(f.name)
            if isinstance(have, str) and not f.case_sensitive:
                have = have.lower()
            if have is not None and have == want:
                out.append(rec["Id"])
        return out

    def history_row(
        self,
        hist_name: str,
        parent_id: str,
        field: str,
        data_type: str | None,
        old: Any,
        new: Any,
        user_id: str,
        ts: str,
    ) -> None:
        hist = self.schema.get(hist_name)
        if hist is None:
            return
        parent_field = _HISTORY_PARENT_FIELD.get(hist_name, "ParentId")
        rec: Record = dict.fromkeys(hist.fields)
        rec.update(
            Id=self.ids.new(hist.key_prefix),
            IsDeleted=False,
            CreatedById=user_id,
            CreatedDate=ts,
            Field=field,
            DataType=data_type,
            OldValue=old,
            NewValue=new,
        )
        rec[parent_field] = parent_id
        self.data.put(hist.name, rec)

    # ----------------------------------------------------------------------------------------
    # validation helpers
    # ----------------------------------------------------------------------------------------
    def _live(self, sobj: SObjectDef, record_id: str) -> Record:
        found = self.data.get(record_id)
        if found is None or found[0] != sobj.name:
            raise not_found()
        rec = found[1]
        if rec.get("IsDeleted"):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return rec

    def _prepare(
        self, sobj: SObjectDef, values: Mapping[str, Any], *, create: bool, locate: Locator | None
    ) -> dict[str, Any]:
        resolved: list[tuple[FieldDef, Any]] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = sobj.field(key)
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobj.name}")
            resolved.append((f, value))
        forbidden = [f.name for f, _ in resolved if not (f.createable if create else f.updateable)]
        if forbidden:
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(forbidden)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                forbidden,
            )
        return {f.name: coerce_value(f, value, locate) for f, value in resolved}

    def _take_blob(self, sobj: SObjectDef, given: dict[str, Any]) -> bytes | None:
        for name, f in sobj.fields.items():
            if f.type == "base64" and given.get(name) is not None:
                return base64.b64decode(given[name])
        return None

    def _check_references(self, sobj: SObjectDef, given: Mapping[str, Any]) -> None:
        for name, value in given.items():
            f = sobj.fields[name]
            if f.type != "reference" or value is None:
                continue
            target = self.data.get(value)
            if target is None:
                prefix_obj = self.schema.by_prefix(value[:3])
                if prefix_obj is not None and prefix_obj.name not in f.reference_to:
                    raise _integrity(f"{f.label}: id value of incorrect type: {value}", [f.name])
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            if target[0] not in f.reference_to:
                raise _integrity(f"{f.label}: id value of incorrect type: {value}", [f.name])
            if target[1].get("IsDeleted"):
                raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [])

    def _check_unique(self, sobj: SObjectDef, rec: Record, self_id: str | None) -> None:
        for f in sobj.fields.values():
            if not f.unique or rec.get(f.name) is None or f.type == "id":
                continue
            for other in self.find_by_value(sobj, f, rec[f.name]):
                if other != self_id:
                    raise ApiError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {other}",
                        [],
                    )

    def _history(
        self,
        sobj: SObjectDef,
        rid: str,
        field: str,
        f: FieldDef | None,
        old: Any,
        new: Any,
        user_id: str,
        ts: str,
    ) -> None:
        if sobj.history_object is None:
            return
        data_type = _HISTORY_TYPES.get(f.type, "Text") if f is not None else "Text"
        self.history_row(sobj.history_object, rid, field, data_type, old, new, user_id, ts)

    def _children(self, sobj: SObjectDef, record_id: str) -> list[tuple[Record, str, bool, bool]]:
        out = []
        for rel in sobj.child_relationships:
            child_obj = rel["childSObject"]
            if child_obj == sobj.name and rel["field"] in ("MasterRecordId",):
                continue
            for child in self.data.iter(child_obj, include_deleted=False):
                if child.get(rel["field"]) == record_id:
                    out.append(
                        (child, rel["field"], bool(rel["restrictedDelete"]), bool(rel["cascadeDelete"]))
                    )
        return out

    def _collect_cascade(
        self, sobj: SObjectDef, rec: Record, doomed: list[tuple[SObjectDef, Record]], seen: set[str]
    ) -> None:
        if rec["Id"] in seen:
            return
        seen.add(rec["Id"])
        doomed.append((sobj, rec))
        for child, _field, _restricted, cascade in self._children(sobj, rec["Id"]):
            if cascade:
                child_sobj = self.schema.get(self.data.index[child["Id"]])
                if child_sobj is not None and not child_sobj.name.endswith("History"):
                    self._collect_cascade(child_sobj, child, doomed, seen)

    def _record(self, record_id: Any) -> Record | None:
        if not isinstance(record_id, str):
            return None
        found = self.data.get(record_id)
        return found[1] if found and not found[1].get("IsDeleted") else None

    # ----------------------------------------------------------------------------------------
    # per-object rules
    # ----------------------------------------------------------------------------------------
    def _before_write(
        self,
        sobj: SObjectDef,
        rec: Record,
        old: Record | None,
        given: Mapping[str, Any],
        user_id: str,
        ts: str,
    ) -> None:
        name = sobj.name
        if name == "Event":
            self._event(rec, old, given)
        elif name == "OpportunityLineItem":
            self._line_item(rec, old, given)
        elif name == "PricebookEntry":
            self._pricebook_entry(rec, old, given)
        elif name == "Opportunity":
            stage = rec.get("StageName")
            if stage in _STAGES and (old is None or old.get("StageName") != stage):
                prob, category, _closed, _won = _STAGES[stage]
                if "Probability" not in given:
                    rec["Probability"] = float(prob)
                if "ForecastCategoryName" not in given:
                    rec["ForecastCategoryName"] = _FORECAST_NAMES[category]
                rec["LastStageChangeDate"] = ts if old is not None else None
        elif name == "FeedItem" and old is None:
            if rec.get("Type") is None:
                rec["Type"] = "LinkPost" if rec.get("LinkUrl") else "TextPost"
            if rec.get("Type") == "TextPost" and not rec.get("Body"):
                raise _required(["Body"])
            rec["InsertedById"] = user_id
        elif name == "FeedComment" and old is None:
            item = self._record(rec.get("FeedItemId"))
            if rec.get("FeedItemId") is None:
                raise _required(["FeedItemId"])
            if item is not None:
                rec["ParentId"] = item.get("ParentId")
            rec["InsertedById"] = user_id
            if rec.get("CommentType") is None:
                rec["CommentType"] = "TextComment"
        elif name == "Case":
            contact = self._record(rec.get("ContactId"))
            if contact is not None and rec.get("AccountId") is None:
                rec["AccountId"] = contact.get("AccountId")
        elif name == "OpportunityContactRole" and old is not None and rec.get("OpportunityId") is None:
            raise _required(["OpportunityId"])

    def _derive(self, sobj: SObjectDef, rec: Record, blob: bytes | None) -> None:
        """Fields Salesforce computes from others (names, addresses, flags, formula-like values)."""
        name = sobj.name
        if name in ("Contact", "Lead", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        for compound, prefix in _ADDRESSES.get(name, ()):
            if compound not in rec:
                continue
            parts = {
                "city": rec.get(f"{prefix}City"),
                "country": rec.get(f"{prefix}Country"),
                "geocodeAccuracy": rec.get(f"{prefix}GeocodeAccuracy"),
                "latitude": rec.get(f"{prefix}Latitude"),
                "longitude": rec.get(f"{prefix}Longitude"),
                "postalCode": rec.get(f"{prefix}PostalCode"),
                "state": rec.get(f"{prefix}State"),
                "street": rec.get(f"{prefix}Street"),
            }
            rec[compound] = parts if any(v is not None for v in parts.values()) else None
        if name == "Opportunity":
            stage = _STAGES.get(rec.get("StageName") or "")
            closed, won = (stage[2], stage[3]) if stage else (False, False)
            rec["IsClosed"], rec["IsWon"] = closed, won
            if stage:
                rec["ForecastCategory"] = stage[1]
            amount, prob = rec.get("Amount"), rec.get("Probability")
            rec["ExpectedRevenue"] = (
                _money(Decimal(str(amount)) * Decimal(str(prob)) / 100)
                if amount is not None and prob is not None
                else None
            )
            close = rec.get("CloseDate")
            if close:
                day = dt.date.fromisoformat(close)
                rec["FiscalYear"], rec["FiscalQuarter"] = day.year, (day.month - 1) // 3 + 1
            else:
                rec["FiscalYear"] = rec["FiscalQuarter"] = None
        elif name == "Case":
            closed = rec.get("Status") in _CLOSED_CASE_STATUSES
            if closed and not rec.get("IsClosed"):
                rec["ClosedDate"] = rec.get("LastModifiedDate")
            elif not closed:
                rec["ClosedDate"] = None
            rec["IsClosed"] = closed
            contact = self._record(rec.get("ContactId"))
            for target, source in (
                ("ContactPhone", "Phone"), ("ContactMobile", "MobilePhone"), ("ContactEmail", "Email"),
                ("ContactFax", "Fax"),
            ):  # fmt: skip
                if target in rec:
                    rec[target] = contact.get(source) if contact else None
        elif name in ("Task", "Event"):
            rec["AccountId"] = self._account_of(rec.get("WhatId")) or self._account_of(rec.get("WhoId"))
            if name == "Task":
                closed = rec.get("Status") in _CLOSED_TASK_STATUSES
                if closed and not rec.get("IsClosed"):
                    rec["CompletedDateTime"] = rec.get("LastModifiedDate")
                elif not closed:
                    rec["CompletedDateTime"] = None
                rec["IsClosed"] = closed
                rec["IsHighPriority"] = rec.get("Priority") == "High"
                if "TaskSubtype" in rec and rec.get("TaskSubtype") is None:
                    rec["TaskSubtype"] = "Task"
        elif name == "Attachment":
            if blob is not None:
                rec["BodyLength"] = len(blob)
            rec["Body"] = attachment_body_url(self.version, rec["Id"])
        elif name == "FeedItem":
            rec["HasLink"] = bool(rec.get("LinkUrl"))
            rec["HasContent"] = False
            rec.setdefault("CommentCount", 0)
            if rec.get("CommentCount") is None:
                rec["CommentCount"] = 0
            if rec.get("LikeCount") is None:
                rec["LikeCount"] = 0
        elif name == "OpportunityContactRole" and rec.get("IsPrimary") is None:
            rec["IsPrimary"] = False

    def _after_write(self, sobj: SObjectDef, rec: Record, old: Record | None, user_id: str, ts: str) -> None:
        name = sobj.name
        if name == "OpportunityLineItem":
            self._rollup_opportunity(rec.get("OpportunityId"), user_id, ts)
        elif name == "OpportunityContactRole" and rec.get("IsPrimary"):
            for other in list(self.data.iter("OpportunityContactRole", include_deleted=False)):
                if (
                    other["Id"] != rec["Id"]
                    and other.get("OpportunityId") == rec.get("OpportunityId")
                    and other.get("IsPrimary")
                ):
                    demoted = dict(other)
                    demoted.update(
                        IsPrimary=False, LastModifiedDate=ts, SystemModstamp=ts, LastModifiedById=user_id
                    )
                    self.data.put("OpportunityContactRole", demoted)
        elif name == "FeedComment" and old is None:
            self._count_comments(rec.get("FeedItemId"), ts)
        elif name == "Contact" and old is not None:
            for case in list(self.data.iter("Case", include_deleted=False)):
                if case.get("ContactId") == rec["Id"]:
                    updated = dict(case)
                    self._derive(self.schema.sobjects["Case"], updated, None)
                    if updated != case:
                        self.data.put("Case", updated)

    def _after_delete(self, sobj: SObjectDef, rec: Record, user_id: str, ts: str) -> None:
        if sobj.name == "OpportunityLineItem":
            self._rollup_opportunity(rec.get("OpportunityId"), user_id, ts)
        elif sobj.name == "FeedComment":
            self._count_comments(rec.get("FeedItemId"), ts)

    def _account_of(self, record_id: Any) -> str | None:
        rec = self._record(record_id)
        if rec is None:
            return None
        if str(record_id).startswith("001"):
            return str(record_id)
        acct = rec.get("AccountId")
        return acct if isinstance(acct, str) else None

    def _count_comments(self, item_id: Any, ts: str) -> None:
        item = self._record(item_id)
        if item is None:
            return
        count = sum(
            1 for c in self.data.iter("FeedComment", include_deleted=False) if c.get("FeedItemId") == item_id
        )
        updated = dict(item)
        updated.update(CommentCount=count, SystemModstamp=ts, LastModifiedDate=ts)
        self.data.put("FeedItem", updated)

    def _rollup_opportunity(self, opp_id: Any, user_id: str, ts: str) -> None:
        opp = self._record(opp_id)
        if opp is None:
            return
        items = [
            i
            for i in self.data.iter("OpportunityLineItem", include_deleted=False)
            if i.get("OpportunityId") == opp_id
        ]
        updated = dict(opp)
        if items:
            updated["Amount"] = _money(
                sum((Decimal(str(i.get("TotalPrice") or 0)) for i in items), Decimal(0))
            )
            updated["TotalOpportunityQuantity"] = float(
                sum(Decimal(str(i.get("Quantity") or 0)) for i in items)
            )
        updated["HasOpportunityLineItem"] = bool(items)
        updated.update(LastModifiedDate=ts, SystemModstamp=ts, LastModifiedById=user_id)
        opp_sobj = self.schema.sobjects["Opportunity"]
        self._derive(opp_sobj, updated, None)
        self.data.put("Opportunity", updated)
        for name in opp_sobj.tracked_fields:
            if updated.get(name) != opp.get(name):
                self._history(
                    opp_sobj,
                    opp["Id"],
                    name,
                    opp_sobj.fields[name],
                    opp.get(name),
                    updated.get(name),
                    user_id,
                    ts,
                )

    def _event(self, rec: Record, old: Record | None, given: Mapping[str, Any]) -> None:
        if "StartDateTime" in given and "ActivityDateTime" not in given:
            rec["ActivityDateTime"] = rec["StartDateTime"]
        if rec.get("IsAllDayEvent"):
            day_text = rec.get("ActivityDate")
            if day_text is None and rec.get("ActivityDateTime"):
                day_text = rec["ActivityDateTime"][:10]
            if day_text is None:
                raise _required(["ActivityDate"])
            day = dt.date.fromisoformat(day_text)
            minutes = rec.get("DurationInMinutes") if "DurationInMinutes" in given else None
            if minutes is None and rec.get("EndDateTime") and ("EndDateTime" in given or old is None):
                end_day = dt.date.fromisoformat(str(rec["EndDateTime"])[:10])
                minutes = ((end_day - day).days + 1) * 1440
            minutes = max(int(minutes or 1440), 1440)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            rec["ActivityDate"] = day.isoformat()
            rec["ActivityDateTime"] = rec["StartDateTime"] = format_datetime(start)
            rec["DurationInMinutes"] = minutes
            end = start + dt.timedelta(minutes=minutes - 1440)
            rec["EndDateTime"] = format_datetime(end)
            rec["EndDate"] = end.date().isoformat()
            return
        start_text = rec.get("ActivityDateTime")
        if start_text is None:
            raise _required(["ActivityDateTime"])
        start_at = parse_datetime(start_text)
        assert start_at is not None
        duration: int | None = rec.get("DurationInMinutes")
        end_text = rec.get("EndDateTime")
        if old is not None:
            # On update the field the client sent wins; the other one follows it.
            if "EndDateTime" in given and "DurationInMinutes" not in given:
                duration = None
            elif "EndDateTime" not in given:
                end_text = None
        if duration is None and end_text is None:
            raise _required(["DurationInMinutes"])
        if end_text is not None:
            end_at = parse_datetime(end_text)
            assert end_at is not None
            computed = int((end_at - start_at).total_seconds() // 60)
            if computed < 0:
                raise _integrity("End Date/Time: Event duration can't be negative", ["EndDateTime"])
            if duration is not None and int(duration) != computed:
                raise _integrity(
                    "Duration: Event duration doesn't match the difference between start and end date/time",
                    ["DurationInMinutes"],
                )
            duration = computed
        assert duration is not None
        if int(duration) < 0:
            raise _integrity("Duration: Event duration can't be negative", ["DurationInMinutes"])
        finish = start_at + dt.timedelta(minutes=int(duration))
        rec["DurationInMinutes"] = int(duration)
        rec["StartDateTime"] = format_datetime(start_at)
        rec["EndDateTime"] = format_datetime(finish)
        rec["ActivityDate"] = start_at.date().isoformat()
        rec["EndDate"] = finish.date().isoformat()

    def _line_item(self, rec: Record, old: Record | None, given: Mapping[str, Any]) -> None:
        if old is None:
            if (
                "UnitPrice" in given
                and "TotalPrice" in given
                and given["UnitPrice"] is not None
                and given["TotalPrice"] is not None
            ):
                raise _integrity(
                    "field integrity exception: TotalPrice (cannot specify both unit price and total price)",
                    ["TotalPrice"],
                )
            opp = self._record(rec.get("OpportunityId"))
            if rec.get("OpportunityId") is None:
                raise _required(["OpportunityId"])
            if opp is None:
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            entry = self._record(rec.get("PricebookEntryId"))
            if entry is None and rec.get("PricebookEntryId") is None:
                product = rec.get("Product2Id")
                if product is None:
                    raise _required(["PricebookEntryId"])
                book = opp.get("Pricebook2Id") or self._standard_pricebook()
                entry = next(
                    (
                        e for e in self.data.iter("PricebookEntry", include_deleted=False)
                        if e.get("Product2Id") == product and e.get("Pricebook2Id") == book
                    ),
                    None,
                )  # fmt: skip
                if entry is None:
                    raise _integrity(
                        "field integrity exception: PricebookEntryId (no pricebook entry for this "
                        "product in the "
                        "opportunity's price book)",
                        ["PricebookEntryId"],
                    )
                rec["PricebookEntryId"] = entry["Id"]
            if entry is None:
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            if not entry.get("IsActive"):
                raise _integrity(
                    "field integrity exception: PricebookEntryId (pricebook entry is inactive)",
                    ["PricebookEntryId"],
                )
            book = opp.get("Pricebook2Id")
            if book is not None and book != entry.get("Pricebook2Id"):
                raise _integrity(
                    "field integrity exception: PricebookEntryId (pricebook entry is in a different "
                    "pricebook than "
                    "the one assigned to the opportunity)",
                    ["PricebookEntryId"],
                )
            if rec.get("UnitPrice") is None and rec.get("TotalPrice") is None:
                raise _integrity(
                    "field integrity exception: unknown (must specify either UnitPrice or TotalPrice)", []
                )
            product = self._record(entry.get("Product2Id")) or {}
            rec["Product2Id"] = entry.get("Product2Id")
            rec["ListPrice"] = entry.get("UnitPrice")
            rec["ProductCode"] = product.get("ProductCode")
            rec["Name"] = f"{opp.get('Name')} {product.get('Name')}".strip()
            if book is None:
                moved = dict(opp)
                moved["Pricebook2Id"] = entry.get("Pricebook2Id")
                self.data.put("Opportunity", moved)
        elif (
            "UnitPrice" in given
            and "TotalPrice" in given
            and given["UnitPrice"] is not None
            and given["TotalPrice"] is not None
        ):
            raise _integrity(
                "field integrity exception: TotalPrice (cannot specify both unit price and total price)",
                ["TotalPrice"],
            )
        quantity = Decimal(str(rec.get("Quantity") or 0))
        if quantity == 0:
            raise _integrity("field integrity exception: Quantity (quantity must be nonzero)", ["Quantity"])
        if "TotalPrice" in given and given["TotalPrice"] is not None:
            rec["UnitPrice"] = _money(Decimal(str(given["TotalPrice"])) / quantity)
            rec["TotalPrice"] = _money(Decimal(str(given["TotalPrice"])))
        else:
            rec["TotalPrice"] = _money(Decimal(str(rec.get("UnitPrice") or 0)) * quantity)

    def _standard_pricebook(self) -> str | None:
        return next(
            (b["Id"] for b in self.data.iter("Pricebook2", include_deleted=False) if b.get("IsStandard")),
            None,
        )

    def _pricebook_entry(self, rec: Record, old: Record | None, given: Mapping[str, Any]) -> None:
        product = self._record(rec.get("Product2Id"))
        book = self._record(rec.get("Pricebook2Id"))
        if old is None and product is not None and book is not None:
            for other in self.data.iter("PricebookEntry", include_deleted=False):
                if (
                    other.get("Product2Id") == rec["Product2Id"]
                    and other.get("Pricebook2Id") == rec["Pricebook2Id"]
                ):
                    raise ApiError(
                        400, "DUPLICATE_VALUE", "This price definition already exists in this price book", []
                    )
            if not book.get("IsStandard"):
                standard = self._standard_pricebook()
                std_entry = next(
                    (
                        e for e in self.data.iter("PricebookEntry", include_deleted=False)
                        if e.get("Product2Id") == rec["Product2Id"] and e.get("Pricebook2Id") == standard
                    ),
                    None,
                )  # fmt: skip
                if std_entry is None:
                    raise ApiError(
                        400, "STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", []
                    )
                if rec.get("UseStandardPrice"):
                    rec["UnitPrice"] = std_entry.get("UnitPrice")
        if product is not None:
            rec["Name"] = product.get("Name")
            rec["ProductCode"] = product.get("ProductCode")
