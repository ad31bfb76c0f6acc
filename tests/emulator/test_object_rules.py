"""Per-object rules a real org enforces: line items and price books, events, contact roles, feeds, tasks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.emulator import query_records as q


def new_opportunity(api: httpx.Client, **extra: Any) -> str:
    body = {"Name": "Rules", "StageName": "Qualification", "CloseDate": "2030-06-30", **extra}
    response = api.post("/sobjects/Opportunity", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def standard_entry(api: httpx.Client) -> dict[str, Any]:
    return q(
        api,
        "SELECT Id, UnitPrice, Pricebook2Id, Product2Id FROM PricebookEntry "
        "WHERE Pricebook2.IsStandard = true AND IsActive = true ORDER BY UnitPrice LIMIT 1",
    )[0]


def test_line_item_prices_and_the_opportunity_rollup(api: httpx.Client) -> None:
    opp = new_opportunity(api)
    entry = standard_entry(api)
    both = api.post(
        "/sobjects/OpportunityLineItem",
        json={
            "OpportunityId": opp,
            "PricebookEntryId": entry["Id"],
            "Quantity": 2,
            "UnitPrice": 5,
            "TotalPrice": 10,
        },
    )
    assert both.status_code == 400
    assert both.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    neither = api.post(
        "/sobjects/OpportunityLineItem",
        json={"OpportunityId": opp, "PricebookEntryId": entry["Id"], "Quantity": 2},
    )
    assert neither.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    no_entry = api.post(
        "/sobjects/OpportunityLineItem", json={"OpportunityId": opp, "Quantity": 1, "UnitPrice": 1}
    )
    assert no_entry.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    by_unit = api.post(
        "/sobjects/OpportunityLineItem",
        json={"OpportunityId": opp, "PricebookEntryId": entry["Id"], "Quantity": 3, "UnitPrice": 100},
    ).json()["id"]
    by_total = api.post(
        "/sobjects/OpportunityLineItem",
        json={"OpportunityId": opp, "PricebookEntryId": entry["Id"], "Quantity": 4, "TotalPrice": 50},
    ).json()["id"]
    first = api.get(f"/sobjects/OpportunityLineItem/{by_unit}").json()
    assert first["TotalPrice"] == 300.0
    assert first["ListPrice"] == entry["UnitPrice"]
    assert first["Product2Id"] == entry["Product2Id"]
    assert api.get(f"/sobjects/OpportunityLineItem/{by_total}").json()["UnitPrice"] == 12.5
    record = api.get(f"/sobjects/Opportunity/{opp}").json()
    assert record["Pricebook2Id"] == entry["Pricebook2Id"]  # the opportunity took the entry's price book
    assert record["Amount"] == 350.0
    assert record["HasOpportunityLineItem"] is True
    api.delete(f"/sobjects/OpportunityLineItem/{by_total}")
    assert api.get(f"/sobjects/Opportunity/{opp}").json()["Amount"] == 300.0


def test_line_item_from_another_price_book_is_refused(api: httpx.Client) -> None:
    opp = new_opportunity(api)
    entry = standard_entry(api)
    api.post(
        "/sobjects/OpportunityLineItem",
        json={"OpportunityId": opp, "PricebookEntryId": entry["Id"], "Quantity": 1, "UnitPrice": 1},
    )
    partner = q(
        api,
        "SELECT Id FROM PricebookEntry WHERE Pricebook2.Name = 'Partner Price Book' AND IsActive = true "
        "LIMIT 1",
    )[0]
    response = api.post(
        "/sobjects/OpportunityLineItem",
        json={"OpportunityId": opp, "PricebookEntryId": partner["Id"], "Quantity": 1, "UnitPrice": 1},
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "different pricebook" in response.json()[0]["message"]


def test_price_book_entries_need_a_standard_price(api: httpx.Client) -> None:
    product = api.post("/sobjects/Product2", json={"Name": "Brand New", "IsActive": True}).json()["id"]
    partner_book = q(api, "SELECT Id FROM Pricebook2 WHERE Name = 'Partner Price Book'")[0]["Id"]
    standard_book = q(api, "SELECT Id FROM Pricebook2 WHERE IsStandard = true")[0]["Id"]
    refused = api.post(
        "/sobjects/PricebookEntry", json={"Pricebook2Id": partner_book, "Product2Id": product, "UnitPrice": 9}
    )
    assert refused.json()[0]["errorCode"] == "STANDARD_PRICE_NOT_DEFINED"
    std = api.post(
        "/sobjects/PricebookEntry",
        json={"Pricebook2Id": standard_book, "Product2Id": product, "UnitPrice": 10, "IsActive": True},
    )
    assert std.status_code == 201
    assert api.get(f"/sobjects/PricebookEntry/{std.json()['id']}").json()["Name"] == "Brand New"
    dup = api.post(
        "/sobjects/PricebookEntry",
        json={"Pricebook2Id": standard_book, "Product2Id": product, "UnitPrice": 11},
    )
    assert dup.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert (
        api.post(
            "/sobjects/PricebookEntry",
            json={"Pricebook2Id": partner_book, "Product2Id": product, "UnitPrice": 9},
        ).status_code
        == 201
    )


def test_event_duration_rule(api: httpx.Client) -> None:
    start = "2030-01-10T15:00:00.000+0000"
    missing = api.post("/sobjects/Event", json={"Subject": "No length", "ActivityDateTime": start})
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    by_duration = api.post(
        "/sobjects/Event", json={"Subject": "Sync", "ActivityDateTime": start, "DurationInMinutes": 45}
    ).json()["id"]
    event = api.get(f"/sobjects/Event/{by_duration}").json()
    assert event["EndDateTime"] == "2030-01-10T15:45:00.000+0000"
    assert event["ActivityDate"] == "2030-01-10"
    by_end = api.post(
        "/sobjects/Event",
        json={"Subject": "Sync", "StartDateTime": start, "EndDateTime": "2030-01-10T17:00:00.000+0000"},
    ).json()["id"]
    assert api.get(f"/sobjects/Event/{by_end}").json()["DurationInMinutes"] == 120
    inconsistent = api.post(
        "/sobjects/Event",
        json={
            "Subject": "x",
            "ActivityDateTime": start,
            "DurationInMinutes": 10,
            "EndDateTime": "2030-01-10T17:00:00.000+0000",
        },
    )
    assert inconsistent.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    all_day = api.post(
        "/sobjects/Event", json={"Subject": "Offsite", "IsAllDayEvent": True, "ActivityDate": "2030-02-01"}
    )
    record = api.get(f"/sobjects/Event/{all_day.json()['id']}").json()
    assert record["DurationInMinutes"] == 1440
    api.patch(f"/sobjects/Event/{by_duration}", json={"DurationInMinutes": 60})
    assert api.get(f"/sobjects/Event/{by_duration}").json()["EndDateTime"] == "2030-01-10T16:00:00.000+0000"


def test_only_one_primary_contact_role(api: httpx.Client) -> None:
    opp = new_opportunity(api)
    contacts = [r["Id"] for r in q(api, "SELECT Id FROM Contact LIMIT 2")]
    first = api.post(
        "/sobjects/OpportunityContactRole",
        json={"OpportunityId": opp, "ContactId": contacts[0], "IsPrimary": True},
    ).json()["id"]
    api.post(
        "/sobjects/OpportunityContactRole",
        json={"OpportunityId": opp, "ContactId": contacts[1], "IsPrimary": True, "Role": "Decision Maker"},
    )
    roles = q(api, f"SELECT ContactId, IsPrimary FROM OpportunityContactRole WHERE OpportunityId = '{opp}'")  # noqa: S608
    assert sorted(r["IsPrimary"] for r in roles) == [False, True]
    assert api.get(f"/sobjects/OpportunityContactRole/{first}").json()["IsPrimary"] is False
    missing = api.post("/sobjects/OpportunityContactRole", json={"OpportunityId": opp})
    assert missing.json()[0]["fields"] == ["ContactId"]


def test_feed_comments_count_on_their_item(api: httpx.Client) -> None:
    account = q(api, "SELECT Id FROM Account LIMIT 1")[0]["Id"]
    item = api.post("/sobjects/FeedItem", json={"ParentId": account, "Body": "Hello feed"}).json()["id"]
    created = api.get(f"/sobjects/FeedItem/{item}").json()
    assert created["Type"] == "TextPost"
    assert created["CommentCount"] == 0
    comment = api.post("/sobjects/FeedComment", json={"FeedItemId": item, "CommentBody": "First!"}).json()[
        "id"
    ]
    assert api.get(f"/sobjects/FeedItem/{item}").json()["CommentCount"] == 1
    assert api.get(f"/sobjects/FeedComment/{comment}").json()["ParentId"] == account
    too_long = api.post("/sobjects/FeedComment", json={"FeedItemId": item, "CommentBody": "x" * 10001})
    assert too_long.json()[0]["errorCode"] == "STRING_TOO_LONG"
    case_comment = api.post(
        "/sobjects/CaseComment",
        json={"ParentId": q(api, "SELECT Id FROM Case LIMIT 1")[0]["Id"], "CommentBody": "y" * 4001},
    )
    assert case_comment.json()[0]["errorCode"] == "STRING_TOO_LONG"


def test_task_relates_to_the_account(api: httpx.Client) -> None:
    contact = q(api, "SELECT Id, AccountId FROM Contact WHERE AccountId != null LIMIT 1")[0]
    task = api.post("/sobjects/Task", json={"Subject": "Call", "WhoId": contact["Id"]}).json()["id"]
    record = api.get(f"/sobjects/Task/{task}").json()
    assert record["AccountId"] == contact["AccountId"]
    assert record["Status"] == "Not Started"
    assert record["IsClosed"] is False
    api.patch(f"/sobjects/Task/{task}", json={"Status": "Completed"})
    assert api.get(f"/sobjects/Task/{task}").json()["IsClosed"] is True
    lead_as_what = api.post(
        "/sobjects/Task", json={"Subject": "x", "WhatId": q(api, "SELECT Id FROM Lead LIMIT 1")[0]["Id"]}
    )
    assert lead_as_what.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_seed_covers_every_object(api: httpx.Client) -> None:
    for sobject in (
        "Account",
        "Contact",
        "Lead",
        "Opportunity",
        "Case",
        "Task",
        "Event",
        "OpportunityContactRole",
        "Product2",
        "Pricebook2",
        "PricebookEntry",
        "OpportunityLineItem",
        "Attachment",
        "CaseComment",
        "FeedItem",
        "FeedComment",
        "User",
        "Invoice__c",
    ):
        total = api.get("/query", params={"q": f"SELECT COUNT() FROM {sobject}"}).json()["totalSize"]  # noqa: S608
        assert total >= 2, sobject
