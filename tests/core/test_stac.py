"""Loading STAC items from files and URLs; relative hrefs resolve against the item."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asm_core.errors import ItemError
from asm_core.sources.stac import (
    PUBLIC_COG_SOURCES,
    check_item_sources,
    load_item,
    scene_item_from_dict,
)
from tests.conftest import STAC_DATA


def test_real_earth_search_item_loads() -> None:
    item = load_item(str(STAC_DATA / "S2A_39QTA_20230628_0_L2A.json"))
    assert item.item_id == "S2A_39QTA_20230628_0_L2A"
    assert item.mgrs_tile == "39QTA"
    assert item.baseline == (5, 9)
    assert item.boa_offset_flag is True
    assert item.epsg == 32639
    assert item.acquired.isoformat().startswith("2023-06-28T07:24:41")
    assert item.bands["red"].href.startswith("https://sentinel-cogs.s3.us-west-2.amazonaws.com/")


def test_relative_hrefs_resolve_against_a_local_item(tmp_path: Path) -> None:
    data = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    data["assets"]["red"]["href"] = "./bands/B04.tif"
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "item.json"
    path.write_text(json.dumps(data))
    item = load_item(str(path))
    assert item.bands["red"].href == str(tmp_path / "sub" / "bands" / "B04.tif")


def test_relative_hrefs_resolve_against_an_item_url() -> None:
    data = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    data["assets"]["red"]["href"] = "../cogs/B04.tif"
    url = "https://example.test/catalog/items/item.json"
    item = load_item(url, fetch_text=lambda u: json.dumps(data) if u == url else "")
    assert item.bands["red"].href == "https://example.test/catalog/cogs/B04.tif"


def test_relative_hrefs_resolve_against_an_s3_item() -> None:
    data = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    data["assets"]["red"]["href"] = "./B04.tif"
    item = scene_item_from_dict(data, "s3://bucket/a/b/item.json")
    assert item.bands["red"].href == "s3://bucket/a/b/B04.tif"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "FeatureCollection", "features": []}', "not a STAC item"),
        ('{"type": "Feature", "assets": {}, "properties": {}}', "has no 'id'"),
        ('{"type": "Feature", "id": "x", "assets": {}, "properties": {}}', "has no datetime"),
        (
            '{"type": "Feature", "id": "x", "assets": {}, "properties": {"datetime": "june"}}',
            "'june' is not ISO 8601",
        ),
    ],
)
def test_bad_item_files_say_what_is_wrong(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "item.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ItemError, match=message):
        load_item(str(path))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(properties=[1]), r"'properties' is \[1\]; expected an object"),
        (lambda d: d["assets"].update(red="x"), "asset 'red' is 'x'; expected an object"),
        (lambda d: d["assets"]["red"].update(href=5), "with a string 'href'"),
        (lambda d: d.update(links={"a": 1}), "'links' is {'a': 1}; expected a list"),
        (lambda d: d.update(links=["x"]), "link 'x' is not an object"),
        (lambda d: d.update(geometry="POINT"), "expected a GeoJSON object or null"),
        (lambda d: d["properties"].update({"mgrs:utm_zone": "abc"}), "UTM zone 'abc' is not"),
        (lambda d: d.update(id="A" * 5000), r"AAA\.\.\. is not accepted; use 1-200 letters"),
        (lambda d: d.update(id="../../etc"), "item id '../../etc' is not accepted"),
        (lambda d: d.update(id=5), "item id 5 is not accepted"),
    ],
)
def test_items_of_the_wrong_shape_get_one_line_errors(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    edit(data)
    with pytest.raises(ItemError, match=message) as raised:
        scene_item_from_dict(data, "item.json")
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 250


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "item.json"
    path.write_bytes(b'{"id": "\xff\xfe"}')
    with pytest.raises(ItemError, match="is not UTF-8 text: byte 0xff"):
        load_item(str(path))


def test_bands_are_read_only_from_the_allowed_sources() -> None:
    data = json.loads((STAC_DATA / "S2A_39QTA_20230628_0_L2A.json").read_text())
    check_item_sources([data], PUBLIC_COG_SOURCES)  # Earth Search's own COGs
    for href in ("/etc/passwd", "http://169.254.169.254/latest/B04.tif", "s3://private-bucket/x"):
        data["assets"]["red"]["href"] = href
        with pytest.raises(ItemError, match=r"band red at .* is not from an allowed source"):
            check_item_sources([data], PUBLIC_COG_SOURCES)
    data["assets"]["red"]["href"] = "/data/scenes/../../etc/B04.tif"
    with pytest.raises(ItemError, match="allowed: /data/scenes/"):
        check_item_sources([data], ["/data/scenes/", *PUBLIC_COG_SOURCES])
