"""Every alert comes with a before/after chip cut from the looks' COGs: it opens, it is small,
it says (and shows) the two dates, and a look that cannot be read costs that chip, not the
update."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from asm_core.evaluation.synthetic.series import write_series
from asm_core.evaluation.synthetic.site_stories import SeriesSpec
from asm_core.jobs.tile_job import run_item
from asm_core.monitoring.evidence_chips import MAX_BYTES, PANEL_PX
from asm_core.monitoring.monitor import update_monitoring
from asm_core.report.report_html import build_report
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.stac import load_item

SEED = 7314  # used by no other test


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chips")
    written = write_series(SeriesSpec(seed=SEED, dates=6, size=512, sites=4), out / "scenes")
    rules = load_rules()
    for path in written.item_paths:
        run_item(load_item(str(path)), rules, out / "results")
    update_monitoring(out / "results", rules.tracking)
    return out / "results"


def _alerts(results: Path) -> list[dict[str, object]]:
    return json.loads((results / "alerts.geojson").read_text())["features"]  # type: ignore[no-any-return]


def test_every_alert_has_a_small_chip_that_opens_and_says_its_dates(monitored: Path) -> None:
    alerts = _alerts(monitored)
    assert alerts
    runs = {r["item_id"]: r for r in read_table(monitored, "tile_runs").to_pylist()}
    befores = 0
    for alert in alerts:
        p = alert["properties"]
        assert isinstance(p, dict) and "chip_error" not in p
        chip = monitored / p["chip"]
        assert chip.is_file() and chip.stat().st_size <= MAX_BYTES
        with Image.open(chip) as image:
            assert image.format == "JPEG" and image.width == 2 * PANEL_PX + 2
            comment = image.info["comment"].decode()
            image.load()  # the whole file decodes
        after = runs[p["item_id"]]["acquired"].date()
        assert p["chip_after"] == after.isoformat() == p["acquired"][:10]
        assert f"after {after.isoformat()} {p['item_id']}" in comment
        if p["chip_before"] is not None:
            befores += 1
            assert date.fromisoformat(p["chip_before"]) < after
            assert f"before {p['chip_before']}" in comment
        else:
            assert "before none" in comment
    assert befores >= 2  # the expanding site and the one that appeared had earlier looks


def test_the_report_popups_link_the_chips_beside_the_alerts(monitored: Path) -> None:
    page, _ = build_report(monitored)
    data = json.loads(page.split('id="asm-data">', 1)[1].split("</script>", 1)[0])
    chipped = [f["properties"] for f in data["sites"]["features"] if f["properties"].get("chip")]
    alerted = {a["properties"]["site_id"] for a in _alerts(monitored)}  # type: ignore[index]
    assert {p["id"] for p in chipped} == alerted - {None}
    for p in chipped:
        assert (monitored / p["chip"]).is_file() and "→" in p["chip_dates"]


def test_a_look_that_cannot_be_read_costs_its_chip_not_the_update(
    monitored: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(monitored, copy)
    (copy / "alerts.geojson").unlink()
    shutil.rmtree(copy / "chips")
    runs = {r["item_id"]: r for r in read_table(copy, "tile_runs").to_pylist()}
    alerted = max(a["properties"]["acquired"] for a in _alerts(monitored))  # type: ignore[index]
    latest = next(r for r in runs.values() if r["acquired"].isoformat() == alerted)
    red = dict(latest["band_hrefs"])["red"]
    Path(red).rename(Path(red).with_suffix(".gone"))
    try:
        done = update_monitoring(copy, load_rules().tracking, rebuild=True)
    finally:
        Path(red).with_suffix(".gone").rename(red)
    broken = [a for a in done.alerts if a["properties"]["item_id"] == latest["item_id"]]
    others = [a for a in done.alerts if a["properties"]["item_id"] != latest["item_id"]]
    assert broken and others, "the seed alerts on the latest look and on others"
    for alert in broken:
        error = alert["properties"]["chip_error"]
        assert "\n" not in error
        assert "B04" in error or "red" in error.lower()
    assert all("chip" in a["properties"] for a in others)
    assert done.chips == len(others)
