import sfconnector


def test_one_pinned_api_version() -> None:
    assert sfconnector.API_VERSION.startswith("v") and sfconnector.API_VERSION.endswith(".0")
