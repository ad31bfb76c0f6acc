"""The one way routes are declared: on a Powertools ``Router`` (``router.route(...)`` or its
``get``/``post``/... decorators), included in an :class:`ApiResolver` (:func:`new_resolver` in
:mod:`sfconnector.api.app`).

:class:`ApiResolver` is Powertools' REST resolver that also remembers the (rule, methods) of every
route registered on it (Powertools' public ``route``, which ``include_router`` calls per route),
so the API can answer a known path asked with another method with a 405 listing the allowed ones
(:meth:`ApiResolver.allowed_methods`) without reading Powertools' private route tables.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

__all__ = ["ApiResolver", "powertools_rule"]

# The characters a path parameter matches: the same set as Powertools' route regex (RFC 3986's
# unreserved and sub-delims, the unsafe ones API Gateway passes through, and word characters).
_PARAM = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PLACEHOLDER = re.compile(r"<(\w+)>")


def powertools_rule(route: str) -> str:
    """``/connections/{connection_id}/accounts`` -> ``/connections/<connection_id>/accounts``."""
    return route.replace("{", "<").replace("}", ">")


def _methods(method: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return (method.upper(),) if isinstance(method, str) else tuple(m.upper() for m in method)


def _request_validation() -> Any:
    """Powertools' request validation, with a body it cannot even split (a multipart type without
    its boundary: a ValueError, so a 500) refused as a content type it does not read (a 415)."""
    from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
        OpenAPIRequestValidationMiddleware,
    )
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

    class RequestValidation(OpenAPIRequestValidationMiddleware):
        def _parse_json_data(self, app: Any) -> Any:
            """Every JSON body is parsed here, within the limits of :mod:`sfconnector.api.bodies`."""
            import json

            from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

            from sfconnector.api.bodies import parse_json_body

            try:
                value, problems = parse_json_body(app.current_event.decoded_body)
            except json.JSONDecodeError:
                return super()._parse_json_data(app)  # Powertools' own json_invalid error
            if problems:
                raise RequestValidationError(problems)
            return value

        def _parse_multipart_data(self, app: Any, content_type: str) -> dict[str, Any]:
            try:
                return super()._parse_multipart_data(app, content_type)
            except ValueError as exc:
                problem = {"type": "unsupported_content_type", "loc": ("body",), "msg": str(exc)}
                raise RequestUnsupportedContentType(str(exc), errors=[problem]) from exc

    return RequestValidation()  # type: ignore[no-untyped-call]


class ApiResolver(APIGatewayRestResolver):
    """The REST resolver of every function (request validation on) that remembers its routes."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True)
        self._declared: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = []
        # Powertools builds its validation middleware on the first request when none is set.
        self._request_validation_middleware = _request_validation()

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        self._remember(rule, _methods(method))
        return super().route(rule, method, *args, **kwargs)

    def _remember(self, rule: str, methods: tuple[str, ...]) -> None:
        pattern = re.compile("^" + _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>{_PARAM})", rule) + "$")
        self._declared.append((rule, pattern, methods))

    def matching_routes(self, path: str) -> list[tuple[str, tuple[str, ...]]]:
        """(rule, methods) of every route whose rule matches ``path``, in registration order."""
        return [(rule, methods) for rule, pattern, methods in self._declared if pattern.match(path)]

    def allowed_methods(self, path: str) -> list[str]:
        """The methods of the routes whose rule matches ``path`` (sorted; empty: no route has it)."""
        return sorted({m for _, methods in self.matching_routes(path) for m in methods})
