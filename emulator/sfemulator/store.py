"""The org's records in memory, with a journal so a composite ``allOrNone`` request can roll back.

Records are flat dicts of wire-JSON values (every field of the describe present, None when empty),
so a snapshot is a cheap shallow copy per record. Binary bodies (Attachment.Body) live beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Blob", "FileBlob", "OrgData", "Snapshot", "blob_bytes", "blob_size"]

Record = dict[str, Any]
Committed = list[tuple[str, str, Record | None, Record | None]]
"""A committed transaction's writes: (sObject, id, the record before it, the record after it)."""
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileBlob:
    """A body kept on disk: a slice of the spooled multipart request it arrived in, so a 100 MB
    file is held once (on disk), never in memory, and never copied."""

    path: Path
    offset: int
    length: int

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            left = self.length
            while left > 0:
                chunk = fh.read(min(size, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())


Blob = bytes | FileBlob


def blob_bytes(blob: Blob) -> bytes:
    return blob if isinstance(blob, bytes) else blob.read()


def blob_size(blob: Blob) -> int:
    return len(blob) if isinstance(blob, bytes) else blob.length


@dataclass
class Snapshot:
    """An immutable-by-convention copy of all data (reset target and persistence unit)."""

    records: dict[str, dict[str, Record]]
    blobs: dict[str, Blob]
    deleted_at: dict[str, str]
    autonumbers: dict[str, int]
    id_counter: int


@dataclass
class _Undo:
    sobject: str
    record: Record | None
    deleted_at: str | None
    blob: Blob | None


@dataclass
class OrgData:
    """Records by sObject and id, an id index, recycle-bin dates and blobs."""

    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, Blob] = field(default_factory=dict)
    deleted_at: dict[str, str] = field(default_factory=dict)
    autonumbers: dict[str, int] = field(default_factory=dict)
    _journal: list[dict[str, _Undo]] = field(default_factory=list)
    on_commit: Callable[[Committed], None] | None = None
    """Told of each outermost commit (Change Data Capture); the journal's before-images make it cheap."""

    # -- reads -------------------------------------------------------------------------------
    def get(self, record_id: str) -> tuple[str, Record] | None:
        sobject = self.index.get(record_id)
        if sobject is None:
            return None
        return sobject, self.records[sobject][record_id]

    def of(self, sobject: str) -> dict[str, Record]:
        return self.records.setdefault(sobject, {})

    def iter(self, sobject: str, *, include_deleted: bool) -> Iterator[Record]:
        for rec in self.records.get(sobject, {}).values():
            if include_deleted or not rec.get("IsDeleted"):
                yield rec

    # -- writes (journalled) -----------------------------------------------------------------
    def _remember(self, record_id: str, sobject: str) -> None:
        if not self._journal:
            return
        frame = self._journal[-1]
        if record_id in frame:
            return
        existing = self.records.get(sobject, {}).get(record_id)
        frame[record_id] = _Undo(
            sobject=sobject,
            record=dict(existing) if existing is not None else None,
            deleted_at=self.deleted_at.get(record_id),
            blob=self.blobs.get(record_id),
        )

    def put(self, sobject: str, record: Record) -> None:
        rid = record["Id"]
        self._remember(rid, sobject)
        self.records.setdefault(sobject, {})[rid] = record
        self.index[rid] = sobject

    def set_blob(self, record_id: str, sobject: str, body: Blob) -> None:
        self._remember(record_id, sobject)
        self.blobs[record_id] = body

    def mark_deleted(self, record_id: str, sobject: str, when: str) -> None:
        self._remember(record_id, sobject)
        self.records[sobject][record_id]["IsDeleted"] = True
        self.deleted_at[record_id] = when

    def purge(self, record_id: str) -> None:
        """Remove a deleted record for good (a hard delete: no recycle bin, no undelete)."""
        sobject = self.index[record_id]
        self._remember(record_id, sobject)
        self.records[sobject].pop(record_id, None)
        self.index.pop(record_id, None)
        self.deleted_at.pop(record_id, None)
        self.blobs.pop(record_id, None)

    def touch(self, record_id: str, sobject: str) -> None:
        """Journal a record before it is modified in place."""
        self._remember(record_id, sobject)

    def materialize_blobs(self) -> None:
        """Read every file-backed body into memory (before its spool directory goes)."""
        for rid, blob in list(self.blobs.items()):
            if isinstance(blob, FileBlob):
                self.blobs[rid] = blob.read()

    def keeps(self, path: Path) -> bool:
        """Whether a body lives in the file at ``path``."""
        return any(isinstance(b, FileBlob) and b.path == path for b in self.blobs.values())

    # -- transactions ------------------------------------------------------------------------
    def begin(self) -> None:
        self._journal.append({})

    def commit(self) -> None:
        frame = self._journal.pop()
        if self._journal:
            outer = self._journal[-1]
            for rid, undo in frame.items():
                outer.setdefault(rid, undo)
        elif self.on_commit is not None and frame:
            self.on_commit(
                [
                    (undo.sobject, rid, undo.record, self.records.get(undo.sobject, {}).get(rid))
                    for rid, undo in frame.items()
                ]
            )

    def rollback(self) -> None:
        frame = self._journal.pop()
        for rid, undo in frame.items():
            if undo.record is None:
                self.records.get(undo.sobject, {}).pop(rid, None)
                self.index.pop(rid, None)
            else:
                self.records.setdefault(undo.sobject, {})[rid] = undo.record
                self.index[rid] = undo.sobject
            if undo.deleted_at is None:
                self.deleted_at.pop(rid, None)
            else:
                self.deleted_at[rid] = undo.deleted_at
            if undo.blob is None:
                self.blobs.pop(rid, None)
            else:
                self.blobs[rid] = undo.blob

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot(self, id_counter: int) -> Snapshot:
        return Snapshot(
            records={s: {rid: dict(r) for rid, r in recs.items()} for s, recs in self.records.items()},
            blobs=dict(self.blobs),
            deleted_at=dict(self.deleted_at),
            autonumbers=dict(self.autonumbers),
            id_counter=id_counter,
        )

    def restore(self, snap: Snapshot) -> None:
        self.records = {s: {rid: dict(r) for rid, r in recs.items()} for s, recs in snap.records.items()}
        self.index = {rid: s for s, recs in self.records.items() for rid in recs}
        self.blobs = dict(snap.blobs)
        self.deleted_at = dict(snap.deleted_at)
        self.autonumbers = dict(snap.autonumbers)
        self._journal = []
