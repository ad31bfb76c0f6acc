"""HTTP endpoints of lead conversion (leads function) and campaign membership (campaigns function),
built per catalog action with the helpers of :mod:`sfconnector.api.endpoints`. The work is
:mod:`sfconnector.actions.campaigns`; the registry (:mod:`sfconnector.api.registry`) loads this
module for these kinds only.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from sfconnector import catalog
from sfconnector.actions.campaigns import CampaignMemberService, LeadConversionService
from sfconnector.api.endpoints import (
    KW,
    Endpoint,
    body_param,
    connection_param,
    endpoint,
    id_param,
    perform,
    respond,
    returns,
)
from sfconnector.catalog import Action
from sfconnector.models import AddCampaignMemberInput, ConvertLeadInput
from sfconnector.models.campaigns import MAX_MEMBERS_PAGE

__all__ = ["build_add_member", "build_convert", "build_list_members", "build_remove_member"]


def _campaign_param() -> inspect.Parameter:
    return id_param("campaign_id", "Campaign")


def build_convert(action: Action) -> Endpoint:
    def impl(connection_id: str, record_id: str, body: ConvertLeadInput) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: LeadConversionService(client).convert(record_id, body)
        )
        return respond(200, result, api_calls=calls)

    params = [connection_param(), id_param("record_id", "Lead"), body_param(ConvertLeadInput, action.example)]
    return endpoint(action, params, returns(action), impl)


def build_add_member(action: Action) -> Endpoint:
    def impl(connection_id: str, campaign_id: str, body: AddCampaignMemberInput) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: CampaignMemberService(client).add(campaign_id, body)
        )
        return respond(201 if result.created else 200, result, api_calls=calls)

    params = [connection_param(), _campaign_param(), body_param(AddCampaignMemberInput, action.example)]
    return endpoint(action, params, returns(action), impl)


def build_remove_member(action: Action) -> Endpoint:
    def impl(connection_id: str, campaign_id: str, member_id: str) -> Response[Any]:
        result, calls = perform(
            action, connection_id, lambda client: CampaignMemberService(client).remove(campaign_id, member_id)
        )
        return respond(200, result, api_calls=calls)

    member = Path(
        description="The CampaignMember id (00v...), or the id of the lead (00Q...) or contact (003...).",
        json_schema_extra={
            "pattern": r"^(?:00v|00Q|003)[A-Za-z0-9]{12}(?:[A-Za-z0-5]{3})?$",
            "examples": [catalog.DEMO_IDS["CampaignMember"]],
        },
    )
    params = [
        connection_param(),
        _campaign_param(),
        inspect.Parameter("member_id", KW, annotation=Annotated[str, member]),
    ]
    return endpoint(action, params, returns(action), impl)


def build_list_members(action: Action) -> Endpoint:
    def impl(
        connection_id: str, campaign_id: str, limit: int = 100, page_token: str | None = None
    ) -> Response[Any]:
        result, calls = perform(
            action,
            connection_id,
            lambda client: CampaignMemberService(client).list(campaign_id, limit, page_token),
        )
        return respond(200, result, api_calls=calls)

    params = [
        connection_param(),
        _campaign_param(),
        inspect.Parameter(
            "limit",
            KW,
            default=100,
            annotation=Annotated[
                int, Query(ge=1, le=MAX_MEMBERS_PAGE, description="Members per page (1 to 200, default 100).")
            ],
        ),
        inspect.Parameter(
            "page_token",
            KW,
            default=None,
            annotation=Annotated[
                str | None,
                # No pattern or maxLength: Powertools applies neither to an optional query value (see
                # fields_query_param); the service refuses anything that is not this campaign's token
                # with a 422 naming page_token, and the URL's own limit (414) bounds its length.
                Query(description="The `next_page_token` of the previous page (opaque)."),
            ],
        ),
    ]
    return endpoint(action, params, returns(action), impl)
