"""`asm alerts`: a results folder's alerts since a date, as a table, GeoJSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest

from asm_core.cli import main
from asm_core.errors import ResultsError
from asm_core.monitoring.alert_listing import as_csv, read_alerts, render, since


def _alert(day: str, kind: str, site: str | None, area: float) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-2.0, 6.5]},
        "properties": {
            "kind": kind,
            "site_id": site,
            "acquired": f"{day}T10:42:31+00:00",
            "mgrs_tile": "30NVL",
            "country_iso3": "GHA",
            "area_m2": area,
            "confidence": 0.61 if site else None,
            "cues": ["ponds", "pitted_texture"] if site else [],
            "reason": f"{kind} on {day}",
        },
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    expanding = _alert("2024-09-03", "site_expanding", "b", 39000.0)
    expanding["properties"] |= {
        "chip": "chips/site_expanding_b_20240903.jpg",
        "chip_before": "2024-07-05",
        "chip_after": "2024-09-03",
    }
    turbid = _alert("2024-11-02", "turbidity", None, 344000.0)
    turbid["properties"]["chip_error"] = "look 'x' has no readable bands"
    alerts = [expanding, _alert("2024-01-12", "site_new", "a", 80700.0), turbid]
    path = tmp_path / "alerts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": alerts}))
    return tmp_path


def test_alerts_since_a_date_oldest_first(results: Path) -> None:
    alerts = read_alerts(results)
    assert [a["properties"]["site_id"] for a in alerts] == ["a", "b", None]
    recent = since(alerts, date(2024, 9, 3))
    assert [a["properties"]["kind"] for a in recent] == ["site_expanding", "turbidity"]
    assert since(alerts, None) == alerts


def test_csv_has_the_main_columns_the_centroid_and_the_reason(results: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(read_alerts(results)))))
    assert len(rows) == 3
    first = rows[0]
    assert first["kind"] == "site_new" and first["area_m2"] == "80700.0"
    assert (first["lon"], first["lat"]) == ("-2.000000", "6.500000")
    assert first["cues"] == "ponds; pitted_texture" and first["reason"] == "site_new on 2024-01-12"
    assert rows[2]["confidence"] == ""  # a turbid reach has no site confidence


def test_table_and_geojson(results: Path) -> None:
    alerts = read_alerts(results)
    table = render(alerts, "table").splitlines()
    assert table[1].startswith("2024-01-12 site_new") and "8.1" in table[1]
    assert table[3].split() == ["before/after", "(2024-07-05", "/", "2024-09-03):",
                                "chips/site_expanding_b_20240903.jpg"]  # fmt: skip
    assert table[5].strip() == "no chip: look 'x' has no readable bands"
    assert table[-1] == "3 alerts"
    assert json.loads(render(alerts[:1], "geojson"))["features"] == alerts[:1]


def test_missing_or_malformed_alerts_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no alerts\.geojson in"):
        read_alerts(tmp_path)
    (tmp_path / "alerts.geojson").write_text(json.dumps({"type": "FeatureCollection"}))
    with pytest.raises(ResultsError, match="not a FeatureCollection of alerts"):
        read_alerts(tmp_path)
    (tmp_path / "alerts.geojson").write_text("{not json")
    with pytest.raises(ResultsError, match="not readable GeoJSON"):
        read_alerts(tmp_path)


def test_the_command(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--results", str(results), "--since", "2024-09-01"]) == 0
    out = capsys.readouterr().out
    assert "site_expanding" in out and "site_new" not in out and "2 alerts" in out
    assert main(["alerts", "--results", str(results), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("acquired,kind,site_id")
    assert main(["alerts", "--results", str(results), "--since", "2024-13-01"]) != 0
    assert "'2024-13-01'" in capsys.readouterr().err
