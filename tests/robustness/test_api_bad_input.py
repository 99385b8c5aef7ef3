"""Bad requests to the API (the Lambda handler that ``asm serve`` also runs): each gets a
status that says whose fault it is, one line of JSON naming what was wrong, starts no scan,
reads nothing it was pointed at and changes no results."""

# ruff: noqa: E501 - one case per line: the matrix reads as a table
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_watch_functions.api.app import handler, use_services
from asm_watch_functions.api.local_services import LocalScanServices
from asm_watch_functions.api.serve import LocalContext
from asm_watch_functions.events import PlanEvent
from tests.robustness.test_bad_input import _tree_hash

EVENTS = Path(__file__).resolve().parents[1] / "events"
DATES = {"start": "2024-01-01", "end": "2024-03-31"}


class NoScans(LocalScanServices):
    """Local services whose scans, once a request passed every check, are recorded instead
    of run (the test fails if any is)."""

    def __init__(self, results: Path) -> None:
        super().__init__(results)
        self.started: list[PlanEvent] = []

    def _run(self, scan_id: str, event: PlanEvent) -> dict[str, Any]:
        self.started.append(event)
        return {}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _item(scene: WrittenScene, href: str) -> dict[str, Any]:
    data = json.loads(scene.item_path.read_text())
    for asset in data["assets"].values():
        asset["href"] = href + asset["href"].rsplit("/", 1)[-1]
    return data


def _scan_body(**fields: Any) -> str:
    return json.dumps(fields)


#: (case id, method, path, body or query parameters, expected status, part of the error)
# fmt: off
API_CASES: list[tuple[str, str, str, Any, int, str]] = [
    ("scans-not-json", "POST", "/scans", "{bbox: 1", 400, "JSON"),
    ("scans-array", "POST", "/scans", "[1, 2]", 400, "body"),
    ("scans-empty-body", "POST", "/scans", "", 400, "body"),
    ("scans-unknown-field", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], colour="red", **DATES), 400, "colour"),
    ("scans-bbox-three", "POST", "/scans", _scan_body(bbox=[0, 0, 1], **DATES), 400, "bbox"),
    ("scans-bbox-nan", "POST", "/scans", '{"bbox": [NaN, 0, 1, 1], "start": "2024-01-01", "end": "2024-03-31"}', 400, "out of range"),
    ("scans-bbox-lon-200", "POST", "/scans", _scan_body(bbox=[170, 0, 200, 1], **DATES), 400, "±180"),
    ("scans-bbox-empty", "POST", "/scans", _scan_body(bbox=[1, 0, 1, 1], **DATES), 400, "empty"),
    ("scans-bbox-text", "POST", "/scans", _scan_body(bbox="0,0,1,1", **DATES), 400, "bbox"),
    ("scans-dates-reversed", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], start="2024-03-01", end="2024-01-01"), 400, "before start"),
    ("scans-date-feb-30", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], start="2024-02-30", end="2024-03-31"), 400, "start"),
    ("scans-no-dates", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1]), 400, "lookback_days"),
    ("scans-cloud-150", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], max_cloud=150, **DATES), 400, "max_cloud"),
    ("scans-lookback-0", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], lookback_days=0), 400, "lookback_days"),
    ("scans-id-dots", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], scan_id="..", **DATES), 400, "scan_id"),
    ("scans-id-slash", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], scan_id="a/../b", **DATES), 400, "scan_id"),
    ("scans-id-long", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], scan_id="s" * 300, **DATES), 400, "scan_id"),
    ("scans-ruleset", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], ruleset="fast", **DATES), 400, "'fast'"),
    ("scans-two-areas", "POST", "/scans", _scan_body(bbox=[0, 0, 1, 1], aoi_key="a.geojson", **DATES), 400, "exactly one"),
    ("scans-no-area", "POST", "/scans", _scan_body(**DATES), 400, "exactly one"),
    ("scans-deep-json", "POST", "/scans", _nested(5000), 400, "JSON"),
    ("scans-items-file-href", "POST", "/scans", "items:file:///etc/", 400, "not from an allowed source"),
    ("scans-items-local-http", "POST", "/scans", "items:http://127.0.0.1:9/", 400, "not from an allowed source"),
    ("scans-items-metadata-http", "POST", "/scans", "items:http://169.254.169.254/latest/", 400, "not from an allowed source"),
    ("scans-items-other-bucket", "POST", "/scans", "items:s3://someone-elses-bucket/", 400, "not from an allowed source"),
    ("scans-items-escape", "POST", "/scans", "items:s3://sentinel-cogs/../private/", 400, "has '..' in its path"),
    ("scans-items-shape", "POST", "/scans", _scan_body(items=[{"type": "Feature", "id": "x", "assets": {}, "properties": []}], **DATES), 400, "'properties' is"),
    ("scans-items-not-objects", "POST", "/scans", _scan_body(items=[1, 2], **DATES), 400, "items"),
    ("scan-id-dots", "GET", "/scans/..", None, 404, "'..'"),
    ("scan-id-long", "GET", "/scans/" + "s" * 300, None, 404, "no scan"),
    ("scan-report-dots", "GET", "/scans/../report", None, 404, "'..'"),
    ("detections-no-bbox", "GET", "/detections", {"start": "2024-01-01", "end": "2024-02-01"}, 400, "bbox"),
    ("detections-bbox-words", "GET", "/detections", {"bbox": "a,b,c,d", **DATES}, 400, "a,b,c,d"),
    ("detections-bbox-lat-95", "GET", "/detections", {"bbox": "0,95,1,96", **DATES}, 400, "±90"),
    ("detections-limit-0", "GET", "/detections", {"bbox": "0,0,1,1", "limit": "0", **DATES}, 400, "limit"),
    ("detections-limit-huge", "GET", "/detections", {"bbox": "0,0,1,1", "limit": "100000", **DATES}, 400, "limit"),
    ("detections-limit-text", "GET", "/detections", {"bbox": "0,0,1,1", "limit": "ten", **DATES}, 400, "ten"),
    ("detections-reversed", "GET", "/detections", {"bbox": "0,0,1,1", "start": "2024-03-01", "end": "2024-01-01"}, 400, "before"),
    ("detections-bad-date", "GET", "/detections", {"bbox": "0,0,1,1", "start": "yesterday", "end": "2024-01-01"}, 400, "yesterday"),
    ("detect-too-large", "POST", "/detect", _scan_body(bbox=[0, 0, 2, 2], **DATES), 413, "km²"),
    ("detect-lat-95", "POST", "/detect", _scan_body(bbox=[0, 95, 0.01, 95.01], **DATES), 400, "±90"),
    ("detect-reversed", "POST", "/detect", _scan_body(bbox=[0, 0, 0.01, 0.01], start="2024-03-01", end="2024-01-01"), 400, "before"),
    ("detect-not-json", "POST", "/detect", "bbox=0,0,1,1", 400, "JSON"),
    ("no-route", "GET", "/admin", None, 404, "no route GET /admin"),
    ("wrong-method", "DELETE", "/detections", None, 404, "no route DELETE /detections"),
]
# fmt: on


def _event(method: str, path: str, payload: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "post_scans.json").read_text())
    event.update(httpMethod=method, path=path, resource=path, pathParameters=None)
    event["queryStringParameters"] = payload if isinstance(payload, dict) else None
    event["body"] = payload if isinstance(payload, str) else None
    if path.startswith("/scans/"):
        event["resource"] = "/scans/{scan_id}"
        event["pathParameters"] = {"scan_id": path.split("/", 2)[2]}
    return event


@pytest.fixture(scope="module")
def results(tracked_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("api-bad-input") / "results"
    shutil.copytree(tracked_results / "results", copy)
    return copy


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [c[1:] for c in API_CASES],
    ids=[c[0] for c in API_CASES],
)
def test_a_bad_request_is_answered_with_its_status_and_one_line(
    results: Path,
    scene_factory: Callable[..., WrittenScene],
    method: str,
    path: str,
    payload: Any,
    status: int,
    message: str,
) -> None:
    if isinstance(payload, str) and payload.startswith("items:"):
        scene = scene_factory(seed=3, size=512, sites=3, baseline="05.10")
        payload = _scan_body(items=[_item(scene, payload.removeprefix("items:"))], **DATES)
    services = NoScans(results)
    use_services(services)
    before = _tree_hash(results)
    response = handler(_event(method, path, payload), LocalContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == status, body
    assert isinstance(body.get("error"), str) and "\n" not in body["error"], body
    assert message in body["error"], body["error"]
    assert not services.started
    assert _tree_hash(results) == before


def test_the_api_matrix_is_as_large_as_promised() -> None:
    assert len(API_CASES) >= 40 and len({c[0] for c in API_CASES}) == len(API_CASES)
