"""The type-checked usage file also runs."""

import json

from tests.typing.api import direct_fields, run


def test_usage_file_runs() -> None:
    doc = json.loads(run())
    assert doc["status"] == "in_progress"
    assert doc["priority"] == "high"
    assert doc["attributes"] == {"size": "large"}


def test_direct_fields() -> None:
    from civiccrm.models import Case

    assert direct_fields(Case) == ["title", "description", "media_url", "attributes"]
