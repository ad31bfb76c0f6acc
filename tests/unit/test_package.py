import re

import sfconnector


def test_one_pinned_api_version() -> None:
    assert re.fullmatch(r"v\d{2}\.0", sfconnector.API_VERSION)
