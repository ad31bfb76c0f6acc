"""Bulk jobs in the state table: which jobs a connection started (so a job id of another connection
is a 404 and the job's kind is known without asking Salesforce), and the watch list of unfinished
jobs the watcher checks for the ``bulk_job.finished`` event.

* ``pk = CONNECTION#<cid>``, ``sk = BULKJOB#<job id>``: kind, object, operation, tenant, created_at,
  state (deleted with the connection; TTL 30 days after creation);
* ``pk = BULKWATCH``, ``sk = <cid>#<job id>``: an unfinished job (one Query lists them all; the
  watcher removes the item once it published the event).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sfconnector.models import validate_connection_id
from sfconnector.stores.dynamo import DynamoStore

__all__ = ["JOB_TTL_SECONDS", "WATCH_PK", "BulkJobRecord", "BulkJobRepository"]

WATCH_PK = "BULKWATCH"
JOB_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class BulkJobRecord:
    connection_id: str
    job_id: str
    kind: str
    object: str
    operation: str
    tenant_id: str | None = None
    created_at: str = ""
    state: str = "Open"


class BulkJobRepository(DynamoStore):
    @staticmethod
    def _key(connection_id: str, job_id: str) -> dict[str, dict[str, str]]:
        return {
            "pk": {"S": f"CONNECTION#{validate_connection_id(connection_id)}"},
            "sk": {"S": f"BULKJOB#{job_id}"},
        }

    @staticmethod
    def _watch_key(connection_id: str, job_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": WATCH_PK}, "sk": {"S": f"{validate_connection_id(connection_id)}#{job_id}"}}

    def put(self, job: BulkJobRecord) -> None:
        """Remember the job and put it on the watch list (two writes, the job first)."""
        expires = str(int(time.time()) + JOB_TTL_SECONDS)
        item = {
            **self._key(job.connection_id, job.job_id),
            "kind": {"S": job.kind},
            "object": {"S": job.object},
            "operation": {"S": job.operation},
            "created_at": {"S": job.created_at},
            "state": {"S": job.state},
            "expires_at": {"N": expires},
        }
        if job.tenant_id:
            item["tenant_id"] = {"S": job.tenant_id}
        self.client.put_item(TableName=self.table_name, Item=item)
        self.client.put_item(
            TableName=self.table_name,
            Item={**self._watch_key(job.connection_id, job.job_id), "expires_at": {"N": expires}},
        )

    def get(self, connection_id: str, job_id: str) -> BulkJobRecord | None:
        item = self.client.get_item(TableName=self.table_name, Key=self._key(connection_id, job_id)).get(
            "Item"
        )
        if item is None:
            return None
        return BulkJobRecord(
            connection_id=connection_id,
            job_id=job_id,
            kind=item["kind"]["S"],
            object=item["object"]["S"],
            operation=item["operation"]["S"],
            tenant_id=item.get("tenant_id", {}).get("S"),
            created_at=item.get("created_at", {}).get("S", ""),
            state=item.get("state", {}).get("S", "Open"),
        )

    def set_state(self, connection_id: str, job_id: str, state: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(connection_id, job_id),
            UpdateExpression="SET #s = :s",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":s": {"S": state}},
        )

    def watched(self, limit: int = 500) -> list[tuple[str, str]]:
        """(connection id, job id) of the unfinished jobs, oldest connection first (one page)."""
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": WATCH_PK}},
            Limit=limit,
        )
        out: list[tuple[str, str]] = []
        for item in response.get("Items", []):
            cid, _, job_id = item["sk"]["S"].rpartition("#")
            out.append((cid, job_id))
        return out

    def unwatch(self, connection_id: str, job_id: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=self._watch_key(connection_id, job_id))
