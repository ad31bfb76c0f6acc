"""THE registry of operation kinds: which endpoint builder serves each kind of catalog action.

To add a behaviour: add the kind to :class:`sfconnector.catalog.OperationKind`, write a builder
``build_x(action: Action) -> Endpoint`` (see :mod:`sfconnector.api.endpoints` for the helpers:
``endpoint``, ``connection_param``, ``body_param``, ``perform``, ``respond``, ``run_create``) and
add ONE line below.

The record kinds' builders are imported with this module. The attachment kinds' module
(:mod:`sfconnector.api.attachments`, with the attachment service behind it) is imported by its
first use, so only the functions that serve those kinds load it: one of the named lazy seams of
docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from sfconnector.api import endpoints
from sfconnector.api.endpoints import Endpoint
from sfconnector.catalog import Action, OperationKind

__all__ = ["OPERATIONS", "EndpointBuilder", "builder_for"]

EndpointBuilder = Callable[[Action], Endpoint]


def _campaigns() -> ModuleType:
    from sfconnector.api import campaigns  # lazy seam: lead conversion and campaign membership only

    return campaigns


def _many() -> ModuleType:
    from sfconnector.api import many  # the many-record kinds, beside the record kinds

    return many


def _attachments() -> ModuleType:
    from sfconnector.api import attachments  # lazy seam: the attachments family only

    return attachments


def _files() -> ModuleType:
    from sfconnector.api import files  # lazy seam: the files (and attachments) functions only

    return files


def _bulk() -> ModuleType:
    from sfconnector.api import bulk  # lazy seam: the bulk function only

    return bulk


OPERATIONS: dict[OperationKind, Callable[[], EndpointBuilder]] = {
    OperationKind.CREATE: lambda: endpoints.build_create,
    OperationKind.GET: lambda: endpoints.build_get,
    OperationKind.UPDATE: lambda: endpoints.build_update,
    OperationKind.DELETE: lambda: endpoints.build_delete,
    OperationKind.FIND: lambda: endpoints.build_find,
    OperationKind.UPSERT: lambda: endpoints.build_upsert,
    OperationKind.CREATE_CHILD: lambda: endpoints.build_create_child,
    OperationKind.FIND_ALL: lambda: endpoints.build_find_all,
    OperationKind.QUERY: lambda: _many().build_query,
    OperationKind.BATCH: lambda: _many().build_batch,
    OperationKind.ATTACHMENT_IDS: lambda: _attachments().build_list_ids,
    OperationKind.ATTACHMENT_CONTENT: lambda: _attachments().build_get_content,
    OperationKind.ATTACHMENT_ADD: lambda: _attachments().build_add,
    OperationKind.FILE_ADD: lambda: _files().build_add,
    OperationKind.FILE_LIST: lambda: _files().build_list,
    OperationKind.FILE_CONTENT: lambda: _files().build_get_content,
    OperationKind.FILE_VERSION: lambda: _files().build_new_version,
    OperationKind.BULK_CREATE: lambda: _bulk().build_create,
    OperationKind.BULK_QUERY: lambda: _bulk().build_create_query,
    OperationKind.BULK_GET: lambda: _bulk().build_get,
    OperationKind.BULK_ABORT: lambda: _bulk().build_abort,
    OperationKind.BULK_RESULTS: lambda: _bulk().build_results,
    OperationKind.CONVERT_LEAD: lambda: _campaigns().build_convert,
    OperationKind.CAMPAIGN_MEMBER_ADD: lambda: _campaigns().build_add_member,
    OperationKind.CAMPAIGN_MEMBER_REMOVE: lambda: _campaigns().build_remove_member,
    OperationKind.CAMPAIGN_MEMBERS_LIST: lambda: _campaigns().build_list_members,
}


def builder_for(kind: OperationKind) -> EndpointBuilder:
    """The endpoint builder registered for ``kind`` (a clear error when none is)."""
    try:
        target = OPERATIONS[kind]
    except KeyError:
        raise LookupError(f"no endpoint builder is registered for operation kind {kind.value!r}") from None
    return target()
