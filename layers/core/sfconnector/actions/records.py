"""The generic record services behind most actions: create, get, update, delete, find, upsert,
create-under-a-parent and find-all, for any sObject.

Salesforce API calls are scarce, so each write travels with its read-back in ONE Composite request
(Salesforce counts a composite as one call): ``POST`` + ``GET @{write.id}``. The describe needed to
validate fields comes from the client's describe cache (a cold container pays one describe call
per sObject per cache TTL). Costs per action, describe cache warm:

=================================  =====
create / update / create child     1
get / delete / find / find all     1
upsert by an External ID field     1
upsert by another field (Email)    2 (the lookup, then write + read back)
=================================  =====

An upsert by another field is a lookup then a write, two calls Salesforce cannot make atomic:
two concurrent upserts of one new value would both find nothing and both create. The service
takes a ``match_lock`` port (the API passes a DynamoDB lock per connection, object, field and
value, :class:`~sfconnector.stores.locks.MatchLock`) and holds it from the lookup to the write,
so the second upsert finds the first one's record. It costs no Salesforce call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sfconnector.actions.errors import (
    AmbiguousMatchError,
    FieldProblem,
    FieldValidationError,
    InvalidInputError,
    RecordNotFoundError,
    UnknownSObjectError,
)
from sfconnector.models import DeleteResult, FindResult, QueryResult, RecordResult, UpsertResult
from sfconnector.salesforce import ids, soql
from sfconnector.salesforce.client import SalesforceClient
from sfconnector.salesforce.composite import (
    CompositeRequest,
    CompositeResponse,
    collection_upsert_outcome,
    external_id_fits_url,
    reference,
)
from sfconnector.salesforce.errors import (
    EntityDeletedError,
    MultipleMatchesError,
    NotFoundError,
    SalesforceError,
)
from sfconnector.salesforce.schema import SObjectSchema, describe_sobject, schema_of, sobject_schema
from sfconnector.salesforce.validation import (
    check_record_id,
    criteria_condition,
    select_fields,
    validate_record,
)

__all__ = ["MAX_UPSERT_CANDIDATES", "MatchLocker", "RecordService", "prefix_of"]

MAX_UPSERT_CANDIDATES = 50
"""How many candidate ids a 409 of an ambiguous upsert lists at most."""

MatchLocker = Callable[[str, str, object], AbstractContextManager[object]]
"""``locker(sobject, field, value)``: a context that excludes every other upsert of that value."""

_PREFIX_BY_SOBJECT = {name: prefix for prefix, name in ids.KEY_PREFIXES.items()}


def prefix_of(sobject: str) -> str | None:
    """The key prefix of a standard sObject's ids (None for custom / unknown objects)."""
    return _PREFIX_BY_SOBJECT.get(sobject)


def _page_token(record: Mapping[str, Any]) -> str:
    """``<Id>-<CreatedDate as epoch seconds>`` of the last record of a page (see ``find_all``)."""
    created = record.get("CreatedDate")
    seconds = 0
    if isinstance(created, str) and created:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00").replace("+0000", "+00:00"))
        seconds = int(moment.timestamp())
    return f"{record['Id']}-{seconds}"


def _record_of(response: CompositeResponse, ref: str) -> dict[str, Any]:
    body = response.raise_for_ref(ref).body
    if not isinstance(body, Mapping):
        raise SalesforceError(502, message="Salesforce returned no record in the read-back")
    return dict(body)


class RecordService:
    """Actions on the records of one sObject through one connection's client.

    ``custom_only`` (custom objects family): the sObject must be a ``__c`` object the org's describe
    confirms; anything else is :class:`UnknownSObjectError` (404). ``match_lock``: see the module
    doc (without one, an upsert by a non-External ID field is not safe against concurrent ones).
    """

    def __init__(
        self,
        client: SalesforceClient,
        sobject: str,
        *,
        custom_only: bool = False,
        match_lock: MatchLocker | None = None,
    ) -> None:
        self.client = client
        self.sobject = sobject
        self.custom_only = custom_only
        self.match_lock = match_lock
        if custom_only and not sobject.endswith("__c"):
            raise UnknownSObjectError(
                f"{sobject!r} is not a custom object: this route serves custom objects only (API names "
                "ending in __c). Use the family's own route for standard objects.",
                fields=["sobject"],
            )

    def __repr__(self) -> str:
        return f"RecordService({self.sobject!r})"

    # ---- describe ---------------------------------------------------------------------------------

    def schema(self) -> SObjectSchema:
        """The sObject's schema (from the client's describe cache)."""
        return sobject_schema(self.client, self.sobject, custom_only=self.custom_only)

    def _describe(self) -> dict[str, Any]:
        return describe_sobject(self.client, self.sobject)

    def _key_prefix(self) -> str | None:
        prefix = prefix_of(self.sobject)
        if prefix is None:
            # A custom object, or any other object the any-object routes name: its describe says.
            prefix = self.schema().key_prefix
        return prefix

    def _check_id(self, record_id: str, *, param: str = "record_id", sobject: str | None = None) -> str:
        target = sobject or self.sobject
        prefix = prefix_of(target) if sobject else self._key_prefix()
        return check_record_id(record_id, expected=target, key_prefix=prefix, param=param)

    def _not_found(self, record_id: str, exc: SalesforceError) -> RecordNotFoundError:
        deleted = isinstance(exc, EntityDeletedError)
        state = "is deleted (in the recycle bin)" if deleted else "does not exist"
        return RecordNotFoundError(
            f"{self.sobject} {record_id} {state}, or the connected user cannot see it.", fields=["record_id"]
        )

    # ---- writes with read-back ---------------------------------------------------------------------

    def _write_and_read(
        self, request: CompositeRequest, record_id: str | None
    ) -> tuple[str, dict[str, Any], int]:
        target = record_id or reference("write")
        request.get(self.sobject, target, "record")
        response = self.client.composite(request)
        written = response.raise_for_ref("write")
        record = _record_of(response, "record")
        new_id = str(record.get("Id") or (written.body or {}).get("id") or record_id or "")
        return new_id, record, written.status

    def create(
        self,
        fields: Mapping[str, Any],
        *,
        parent: tuple[str, str] | None = None,
        extra_required: Sequence[str] = (),
    ) -> RecordResult:
        """Create a record and return it as stored (one API call).

        ``parent`` = (field, id) sets the field pointing at the parent (a comment's ParentId).
        """
        schema = self.schema()
        preset: list[str] = []
        if parent is not None:
            parent_field = parent[0]
            given = [name for name in fields if name.lower() == parent_field.lower()]
            if given:
                raise FieldValidationError(
                    [
                        FieldProblem(
                            given[0], "not_writable", f"{parent_field} comes from the URL; leave it out"
                        )
                    ]
                )
            preset.append(parent_field)
        payload = validate_record(schema, fields, mode="create", extra_required=extra_required, preset=preset)
        if parent is not None:
            payload[parent[0]] = parent[1]
        request = CompositeRequest(all_or_none=True)
        request.create(self.sobject, payload, "write")
        new_id, record, _ = self._write_and_read(request, None)
        return RecordResult(id=new_id, record=record)

    def create_child(
        self,
        parent_sobject: str,
        parent_field: str,
        parent_id: str,
        fields: Mapping[str, Any],
        *,
        extra_required: Sequence[str] = (),
    ) -> RecordResult:
        """Create a record of this sObject under ``parent_id`` (a CaseComment under a Case)."""
        checked = self._check_id(parent_id, sobject=parent_sobject)
        return self.create(fields, parent=(parent_field, checked), extra_required=extra_required)

    def update(self, record_id: str, fields: Mapping[str, Any]) -> RecordResult:
        checked = self._check_id(record_id)
        payload = validate_record(self.schema(), fields, mode="update")
        request = CompositeRequest(all_or_none=True)
        request.update(self.sobject, checked, payload, "write")
        try:
            new_id, record, _ = self._write_and_read(request, checked)
        except (NotFoundError, EntityDeletedError) as exc:
            raise self._not_found(checked, exc) from None
        return RecordResult(id=new_id, record=record)

    # ---- reads and delete ---------------------------------------------------------------------------

    def get(self, record_id: str, fields: Sequence[str] | None = None) -> RecordResult:
        checked = self._check_id(record_id)
        selected = select_fields(self.schema(), fields) if fields else None
        try:
            record = self.client.get_record(self.sobject, checked, selected)
        except (NotFoundError, EntityDeletedError) as exc:
            raise self._not_found(checked, exc) from None
        return RecordResult(id=str(record.get("Id") or checked), record=record)

    def delete(self, record_id: str) -> DeleteResult:
        """Delete a record; deleting one already in the recycle bin succeeds with ``already_deleted``."""
        checked = self._check_id(record_id)
        try:
            self.client.delete(self.sobject, checked)
        except EntityDeletedError:
            return DeleteResult(id=checked, already_deleted=True)
        except NotFoundError as exc:
            raise self._not_found(checked, exc) from None
        return DeleteResult(id=checked, already_deleted=False)

    def find(
        self,
        criteria: Mapping[str, Any],
        fields: Sequence[str] | None = None,
        *,
        pick: str = "newest",
    ) -> FindResult:
        """One matching record and the match count, in ONE call (a composite of two queries)."""
        schema = self.schema()
        where = criteria_condition(schema, criteria)
        selected = select_fields(schema, fields)
        descending = pick == "newest"
        order = [soql.OrderBy("Id", descending=descending)]
        if schema.has_field("CreatedDate"):
            order.insert(0, soql.OrderBy("CreatedDate", descending=descending))
        request = CompositeRequest(all_or_none=False)
        try:
            request.query(soql.select_count(self.sobject, where), "matches")
            request.query(soql.select(self.sobject, selected, where, order_by=order, limit=1), "first")
        except soql.QueryTooLongError:
            # Long criteria and many fields together: Salesforce would refuse the statement.
            message = f"the criteria and fields make a query longer than {soql.MAX_SOQL_LENGTH} characters"
            raise FieldValidationError([FieldProblem("criteria", "query_too_long", message)]) from None
        response = self.client.composite(request)
        count = int(response.raise_for_ref("matches").body.get("totalSize", 0))
        records = response.raise_for_ref("first").body.get("records") or []
        if not records:
            return FindResult(found=False, match_count=count)
        record = dict(records[0])
        return FindResult(found=True, match_count=max(count, 1), id=str(record.get("Id")), record=record)

    def find_all(
        self,
        condition: str,
        fields: Sequence[str] | None,
        limit: int,
        next_page: str | None = None,
    ) -> QueryResult:
        """A page of the records matching a user's SOQL WHERE condition, in one query.

        The condition never reaches Salesforce as typed: the guard of
        :mod:`sfconnector.salesforce.condition` parses it against this sObject's describe and
        re-emits it, and its ``build_guarded_query`` (the function the property tests fuzz) builds
        the statement around it, so it can only ever read this one sObject (its FROM is fixed by
        the catalog). One row more than asked tells ``has_more``.

        Pages follow the order (CreatedDate, Id): ``next_page`` is the last record's id and
        creation time, and the next page is the records after it (keyset paging). Unlike a query
        locator it never expires, works for any page size, and cannot point at another query.
        """
        from sfconnector.salesforce.condition import FieldPolicy, build_guarded_query, parse_condition

        schema = schema_of(self._describe())
        policy = FieldPolicy.of_described(schema.name, schema.fields.values())
        # Checked in this order (condition, next_page, fields): the first problem is the one reported.
        where = parse_condition(condition, policy)
        keys = [name for name in ("CreatedDate", "Id") if schema.has_field(name)]
        after = self._after(next_page, keys) if next_page is not None else None
        selected = select_fields(schema, fields)
        extra = [key for key in keys if not any(f.lower() == key.lower() for f in selected)]
        statement = build_guarded_query(
            where,
            policy,
            fields=[*selected, *extra],
            order_by=keys,
            limit=limit + 1,
            after=after,
        )
        page = self.client.query_page(statement)
        records = page.records[:limit]
        has_more = len(page.records) > limit
        token = _page_token(records[-1]) if has_more else None
        if extra:
            # The paging keys were read for the token only: answer the fields that were asked for.
            records = [{k: v for k, v in r.items() if k not in extra} for r in records]
        return QueryResult(records=records, count=len(records), has_more=has_more, next_page=token)

    def _after(self, token: str, keys: Sequence[str]) -> soql.Condition:
        """The keyset condition "after the record ``token`` names" (refused unless it names one
        of this sObject's records)."""
        record_id, _, seconds = token.rpartition("-")
        checked = self._check_id(record_id, param="next_page")
        after_id = soql.Gt("Id", checked)
        if "CreatedDate" not in keys:
            return after_id
        try:
            created = datetime.fromtimestamp(int(seconds), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidInputError(
                "next_page is not a page of this query; send the next_page of the previous answer",
                fields=["next_page"],
            ) from None
        later = soql.Gt("CreatedDate", created)
        same_time = soql.And([soql.Eq("CreatedDate", created), after_id])
        return soql.Or([later, same_time])

    # ---- upsert ---------------------------------------------------------------------------------

    def _upsert_in_body(self, field: str, value: str, payload: Mapping[str, Any]) -> UpsertResult:
        """Upsert by an External ID value that cannot travel in a URL (``A/B 1``, ``x@y.inc``,
        ``50%#?``): an sObject Collections upsert carries it in the body, read back in the same
        composite (still ONE call). Not all-or-none: the read-back's reference fails when the
        write did, and only then does the write's own error stay visible; a repeated upsert is
        harmless should the read-back alone fail."""
        request = CompositeRequest(all_or_none=False)
        request.upsert_in_body(self.sobject, field, value, payload, "write")
        request.get(self.sobject, reference("write", "[0].id"), "record")
        response = self.client.composite(request)
        written = response.by_ref("write")
        new_id, created = collection_upsert_outcome(written.status, written.body)
        record = _record_of(response, "record")
        return UpsertResult(id=str(record.get("Id") or new_id), record=record, created=created)

    def upsert(self, match_field: str, fields: Mapping[str, Any]) -> UpsertResult:
        """Create or update by ``match_field``.

        * External ID field: ONE call (``PATCH sobjects/X/Field/value`` + read back; a value that
          cannot travel in a URL goes in an sObject Collections body instead). Several records
          with the value: 409 with the candidates.
        * Any other filterable field (Email...): the lookup (one call), then create or update with
          read back (one call). Several matches: 409 listing the candidate ids; nothing is written.
        """
        schema = self.schema()
        info = schema.field(match_field)
        if info is None:
            problem = FieldProblem(
                match_field, "unknown_field", f"{match_field} is not a field of {schema.name}"
            )
            raise FieldValidationError([problem], prefix="match_field: ")
        given = [name for name in fields if name.lower() == info.name.lower()]
        if not given or fields[given[0]] in (None, ""):
            raise InvalidInputError(
                f"record must contain a value for the match field {info.name}", fields=[info.name]
            )
        value = fields[given[0]]
        rest = {k: v for k, v in fields.items() if k != given[0]}

        if info.external_id:
            payload = validate_record(schema, rest, mode="upsert")
            match_value = str(validate_record(schema, {info.name: value}, mode="upsert")[info.name])
            try:
                if external_id_fits_url(match_value):
                    request = CompositeRequest(all_or_none=True)
                    request.upsert(self.sobject, info.name, match_value, payload, "write")
                    new_id, record, status = self._write_and_read(request, None)
                    return UpsertResult(id=new_id, record=record, created=status == 201)
                return self._upsert_in_body(info.name, match_value, payload)
            except MultipleMatchesError as exc:
                raise AmbiguousMatchError(self.sobject, info.name, exc.candidate_ids) from None

        if not info.filterable:
            raise FieldValidationError(
                [
                    FieldProblem(
                        info.name,
                        "not_filterable",
                        f"{info.name} cannot be searched by Salesforce, so it cannot be a match field",
                    )
                ],
                prefix="match_field: ",
            )
        # Everything that can be checked without knowing create vs update is checked before the lookup.
        validate_record(schema, fields, mode="upsert")
        lock = self.match_lock(self.sobject, info.name, value) if self.match_lock else nullcontext()
        with lock:
            return self._lookup_and_write(schema, info.name, value, fields, rest)

    def _lookup_and_write(
        self,
        schema: SObjectSchema,
        field: str,
        value: Any,
        fields: Mapping[str, Any],
        rest: Mapping[str, Any],
    ) -> UpsertResult:
        """The lookup, then the create or the update (under the match lock)."""
        where = criteria_condition(schema, {field: value})
        order = ["CreatedDate ASC", "Id ASC"] if schema.has_field("CreatedDate") else ["Id ASC"]
        statement = soql.select(self.sobject, ["Id"], where, order_by=order, limit=MAX_UPSERT_CANDIDATES + 1)
        matches = [str(r["Id"]) for r in self.client.query_page(statement).records]
        if len(matches) > 1:
            raise AmbiguousMatchError(self.sobject, field, matches[:MAX_UPSERT_CANDIDATES])
        request = CompositeRequest(all_or_none=True)
        if not matches:
            payload = validate_record(schema, fields, mode="create")
            request.create(self.sobject, payload, "write")
            new_id, record, _ = self._write_and_read(request, None)
            return UpsertResult(id=new_id, record=record, created=True)
        payload = validate_record(schema, rest, mode="update")
        if not payload:
            # Nothing to change but the match field itself: still one read so the caller gets the record.
            found = self.get(matches[0])
            return UpsertResult(id=found.id, record=found.record, created=False)
        request.update(self.sobject, matches[0], payload, "write")
        new_id, record, _ = self._write_and_read(request, matches[0])
        return UpsertResult(id=new_id, record=record, created=False)
