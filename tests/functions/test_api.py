"""The API handler from sample API Gateway events (tests/events/): every route, and one-line
JSON errors for a missing key, malformed JSON, reversed dates, an unknown rule set, an unknown
scan and bad query parameters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asm_core.rules import load_rules
from asm_core.stac import load_item
from asm_core.synthetic.scene import WrittenScene
from asm_core.tile_job import run_item
from functions.api.app import handler, use_services
from functions.api.local_services import LocalScanServices
from functions.api.serve import LocalContext
from functions.api.services import DetectionQuery
from functions.events import PlanEvent

EVENTS = Path(__file__).resolve().parents[1] / "events"


class RecordingServices(LocalScanServices):
    """Local services that record scan requests instead of running them."""

    def __init__(self, results: Path) -> None:
        super().__init__(results)
        self.started: list[PlanEvent] = []

    def start_scan(self, event: PlanEvent) -> dict[str, Any]:
        self.started.append(event)
        return {"scan_id": event.scan_id, "status": "RUNNING"}


def _call(name: str) -> tuple[int, dict[str, Any]]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    response = handler(event, LocalContext())
    return int(response["statusCode"]), json.loads(response["body"])


@pytest.fixture
def results(scene_factory: Callable[..., WrittenScene], tmp_path: Path) -> Path:
    scene = scene_factory(seed=61, size=512, sites=3, baseline="05.10")
    out = tmp_path / "results"
    run = run_item(load_item(str(scene.item_path)), load_rules(), out)
    assert run.detections > 0
    return out


@pytest.fixture
def services(results: Path) -> RecordingServices:
    services = RecordingServices(results)
    use_services(services)
    return services


def test_post_scans_starts_a_scan(services: RecordingServices) -> None:
    status, body = _call("post_scans")
    assert (status, body) == (202, {"scan_id": "evt-scan", "status": "RUNNING"})
    (event,) = services.started
    assert event.bbox == (-2.2, 5.2, -1.4, 6.4) and event.max_cloud == 40


def test_detections_come_back_as_geojson_points(services: RecordingServices) -> None:
    status, body = _call("get_detections")
    assert status == 200 and body["type"] == "FeatureCollection"
    expected = services.detections(
        DetectionQuery(-180, -90, 180, 90, *_dates("2015-06-23", "2030-01-01"), 100)
    )
    assert len(body["features"]) == len(expected) > 0
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert {"class", "confidence", "area_m2", "acquired"} <= set(feature["properties"])


def _dates(start: str, end: str) -> tuple[Any, Any]:
    from datetime import date

    return date.fromisoformat(start), date.fromisoformat(end)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("post_scans_no_key", 403, "missing API key"),
        ("post_scans_malformed", 400, "Expecting"),
        ("post_scans_dates_reversed", 400, "is before start"),
        ("post_scans_unknown_field", 400, "unknown rule set 'experimental'; available: default"),
        ("get_scan_unknown", 404, "no scan with id 'no-such-scan'"),
        ("get_detections_bad_bbox", 400, "bbox '10,0,5,1' is empty or out of range"),
        ("get_detections_bad_limit", 400, "limit '1000000' must be a whole number"),
    ],
)
def test_bad_requests_get_one_line_json_errors(
    services: RecordingServices, name: str, status: int, message: str
) -> None:
    got_status, body = _call(name)
    assert got_status == status
    assert message in body["error"] and "\n" not in body["error"]
    assert not services.started
