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


def _many() -> ModuleType:
    from sfconnector.api import many  # the many-record kinds, beside the record kinds

    return many


def _attachments() -> ModuleType:
    from sfconnector.api import attachments  # lazy seam: the attachments family only

    return attachments


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
}


def builder_for(kind: OperationKind) -> EndpointBuilder:
    """The endpoint builder registered for ``kind`` (a clear error when none is)."""
    try:
        target = OPERATIONS[kind]
    except KeyError:
        raise LookupError(f"no endpoint builder is registered for operation kind {kind.value!r}") from None
    return target()
