"""THE registry of operation kinds: which endpoint builder serves each kind of catalog action.

To add a behaviour: add the kind to :class:`sfconnector.catalog.OperationKind`, write a builder
``build_x(action: Action) -> Callable`` (see :mod:`sfconnector.api.endpoints` for the helpers:
``endpoint``, ``connection_param``, ``body_param``, ``perform``, ``respond``, ``run_create``) and
add ONE line below. Builders are named as ``"module:function"`` and imported on first use, so a
family's function only imports the code of the kinds it serves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sfconnector.catalog import Action, OperationKind

__all__ = ["OPERATIONS", "EndpointBuilder", "builder_for"]

EndpointBuilder = Callable[[Action], Callable[..., Any]]

OPERATIONS: dict[OperationKind, str] = {
    OperationKind.CREATE: "sfconnector.api.endpoints:build_create",
    OperationKind.GET: "sfconnector.api.endpoints:build_get",
    OperationKind.UPDATE: "sfconnector.api.endpoints:build_update",
    OperationKind.DELETE: "sfconnector.api.endpoints:build_delete",
    OperationKind.FIND: "sfconnector.api.endpoints:build_find",
    OperationKind.UPSERT: "sfconnector.api.endpoints:build_upsert",
    OperationKind.CREATE_CHILD: "sfconnector.api.endpoints:build_create_child",
    OperationKind.FIND_ALL: "sfconnector.api.endpoints:build_find_all",
    # The attachments family (sfconnector/actions/attachments.py).
    OperationKind.ATTACHMENT_IDS: "sfconnector.actions.attachments:build_list_ids",
    OperationKind.ATTACHMENT_CONTENT: "sfconnector.actions.attachments:build_get_content",
    OperationKind.ATTACHMENT_ADD: "sfconnector.actions.attachments:build_add",
}


def builder_for(kind: OperationKind) -> EndpointBuilder:
    """The endpoint builder registered for ``kind`` (a clear error when none is)."""
    try:
        target = OPERATIONS[kind]
    except KeyError:
        raise LookupError(f"no endpoint builder is registered for operation kind {kind.value!r}") from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise LookupError(f"{target} (the builder of {kind.value!r}) does not exist")
    result: EndpointBuilder = builder
    return result
