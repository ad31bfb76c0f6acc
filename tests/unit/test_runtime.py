"""The composition root: parts built once on first use, replaceable by name, nothing at construction."""

from __future__ import annotations

import pytest
from sfconnector.runtime import Runtime, get_runtime, reset_runtime, set_runtime
from sfconnector.settings import SettingsError
from sfconnector.urlfetch import UrlFetcher, UrlFetchSettings

ENV = {
    "TABLE_NAME": "state-table",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:events",
    "PAYLOAD_BUCKET": "payload-bucket",
    "SECRET_PREFIX": "sfconnector/",
    "AWS_REGION": "eu-west-1",
}


def test_building_a_runtime_reads_nothing_and_a_missing_variable_is_named_on_first_use() -> None:
    runtime = Runtime(env={})  # no settings yet: construction must not validate anything
    with pytest.raises(SettingsError) as caught:
        _ = runtime.connections
    assert "TABLE_NAME" in str(caught.value)


def test_parts_are_built_once_and_shared_by_the_services() -> None:
    runtime = Runtime(env=ENV)
    assert runtime.connections is runtime.connections
    assert runtime.connections.table_name == "state-table"
    assert runtime.usage_recorder is runtime.usage_recorder
    fetcher = runtime.url_fetcher
    assert runtime.url_fetcher is fetcher
    assert fetcher.settings.max_bytes == runtime.attachment_settings.max_bytes


def test_install_replaces_a_part_by_name_and_refuses_unknown_names() -> None:
    runtime = Runtime(env=ENV)
    loopback = UrlFetcher(UrlFetchSettings(allow_http=True, allow_loopback_for_tests=True))
    assert runtime.install(url_fetcher=loopback, attachment_inline_limit=1024) is runtime
    assert runtime.url_fetcher is loopback
    assert runtime.attachment_inline_limit == 1024
    with pytest.raises(TypeError, match="cursor_stor"):
        runtime.install(cursor_stor=object())  # a typo must not pass silently


def test_one_runtime_per_container_until_reset() -> None:
    reset_runtime()
    first = get_runtime()
    assert get_runtime() is first
    mine = set_runtime(Runtime(env=ENV))
    assert get_runtime() is mine
    reset_runtime()
    assert get_runtime() is not mine
    reset_runtime()
