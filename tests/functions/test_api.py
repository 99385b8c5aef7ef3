"""The API handler from sample API Gateway events (tests/events/): every route, and one-line
JSON errors for a missing key, malformed JSON, reversed dates, an unknown rule set, an unknown
scan and bad query parameters."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import shapely
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from asm_core.errors import BandSourceUnavailableError, CatalogUnavailableError, RasterReadError
from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_core.jobs.tile_job import run_item
from asm_core.results.result_paths import utm_zones_between
from asm_core.results.store import read_table
from asm_core.rules import load_rules
from asm_core.sources.catalog import SearchRequest, SearchResult
from asm_core.sources.stac import load_item
from asm_watch_functions.api import app as api_app
from asm_watch_functions.api.app import handler, use_services
from asm_watch_functions.api.aws_services import AwsScanServices
from asm_watch_functions.api.local_services import LocalScanServices
from asm_watch_functions.api.serve import LocalContext
from asm_watch_functions.api.services import DetectionQuery, ScanReport
from asm_watch_functions.errors import (
    AreaTooLargeError,
    AthenaQueryError,
    ConfigurationError,
    ForbiddenError,
    NoSceneError,
    ReportNotReadyError,
    ScanNotFoundError,
    ScanRequestTooLargeError,
)
from asm_watch_functions.events import PlanEvent
from asm_watch_functions.storage import Bucket
from tests.conftest import edit_item

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
        ("get_detections_bad_bbox", 400, "bbox '10,0,5,1' crosses the antimeridian"),
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


def test_detect_answers_a_small_area_with_the_scene_that_covers_it(
    scene_factory: Callable[..., WrittenScene], tmp_path: Path
) -> None:
    scene = scene_factory(seed=62, size=512, sites=3, baseline="05.10")
    item = json.loads(edit_item(scene.item_path, tmp_path / "item", lambda d: None).read_text())
    searched: list[SearchRequest] = []

    def search(request: SearchRequest) -> SearchResult:
        searched.append(request)
        return SearchResult(items=[item], found=1, cloud_filter="none", dropped_for_cloud=0)

    event = json.loads((EVENTS / "post_detect.json").read_text())
    west, south, east, north = item["bbox"]
    body = {"bbox": [west, south, east, north], "start": "2020-01-01", "end": "2030-01-01"}
    event["body"] = json.dumps(body)
    # the catalogue's items are read only from the allowed sources (by default the public
    # COG bucket and the catalogue's own host, neither of which holds this scene)
    use_services(LocalScanServices(tmp_path / "results", search=search))
    refused = handler(event, LocalContext())
    assert refused["statusCode"] == 404
    assert "is not from an allowed source" in json.loads(refused["body"])["error"]
    folder = str(scene.item_path.parent.resolve())
    use_services(LocalScanServices(tmp_path / "results", search=search, asset_sources=[folder]))
    response = handler(event, LocalContext())
    answer = json.loads(response["body"])
    assert response["statusCode"] == 200, answer
    assert answer["item_id"] == item["id"] and answer["status"] == "ok"
    expected = run_item(load_item(str(scene.item_path)), load_rules(), tmp_path / "direct")
    assert len(answer["features"]) == expected.detections > 0
    assert answer["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert searched[0].start.isoformat() == "2020-01-01"


def test_detect_refuses_a_large_area_with_413_and_the_limit(services: RecordingServices) -> None:
    status, body = _call("post_detect_too_large")
    assert status == 413
    assert "/detect answers up to 100 km²" in body["error"]


def test_a_finished_scan_has_its_report_as_one_html_page(
    services: RecordingServices, results: Path
) -> None:
    event = json.loads((EVENTS / "get_scan_report.json").read_text())
    missing = handler(event, LocalContext())
    assert missing["statusCode"] == 404  # no such scan yet
    summary = results / "scans" / "done-scan" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"scan_id": "done-scan"}))
    response = handler(event, LocalContext())
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["text/html; charset=utf-8"]
    assert response["body"].startswith("<!DOCTYPE html>") and "L.map(" in response["body"]


def test_on_aws_the_report_is_a_redirect_to_a_short_lived_link(results: Path) -> None:
    class LinkedReports(RecordingServices):
        def report(self, scan_id: str) -> ScanReport:
            return ScanReport(url=f"https://bucket.s3.amazonaws.com/scans/{scan_id}/report.html?X")

    use_services(LinkedReports(results))
    event = json.loads((EVENTS / "get_scan_report.json").read_text())
    response = handler(event, LocalContext())
    assert response["statusCode"] == 303
    location = response["multiValueHeaders"]["Location"]
    assert location == ["https://bucket.s3.amazonaws.com/scans/done-scan/report.html?X"]
    assert json.loads(response["body"]) == {"url": location[0]}


def _edited_call(name: str, edit: Callable[[dict[str, Any]], None]) -> tuple[int, dict[str, Any]]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    edit(event)
    response = handler(event, LocalContext())
    return int(response["statusCode"]), json.loads(response["body"])


def _body(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["body"] = json.dumps(json.loads(event["body"]) | changes)

    return edit


def _replace_body(body: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["body"] = json.dumps(body)

    return edit


def _scan_path(scan_id: str) -> Callable[[dict[str, Any]], None]:
    def edit(event: dict[str, Any]) -> None:
        event["path"] = f"/scans/{scan_id}"
        event["pathParameters"] = {"scan_id": scan_id}

    return edit


@pytest.mark.parametrize(
    ("name", "edit", "status", "message"),
    [
        ("post_scans", _body(bbox=[float("nan"), 5, 1, 6]), 400, "is out of range"),
        ("post_scans", _body(bbox=[170, 5, 200, 6]), 400, "longitudes ±180, latitudes ±90"),
        ("post_detect", _body(bbox=[1, 6, 1, 7]), 400, "is empty; expected W ≠ E"),
        ("post_scans", _body(scan_id=".."), 400, "scan_id: String should match pattern"),
        ("post_scans", _body(scan_id="a/../b"), 400, "scan_id: String should match pattern"),
        ("get_scan_unknown", _scan_path(".."), 404, "no scan with id '..'"),
    ],
)
def test_areas_and_scan_ids_are_checked_alike_everywhere(
    services: RecordingServices,
    name: str,
    edit: Callable[[dict[str, Any]], None],
    status: int,
    message: str,
) -> None:
    got_status, body = _edited_call(name, edit)
    assert (got_status, message in body["error"]) == (status, True), body
    assert not services.started


def test_an_unreachable_catalogue_is_a_503_to_retry_not_the_callers_fault(
    tmp_path: Path,
) -> None:
    from asm_core.errors import UpstreamError

    def down(request: SearchRequest) -> SearchResult:
        raise UpstreamError("STAC API 'https://stac.test' search failed: Connection refused")

    use_services(LocalScanServices(tmp_path / "results", search=down))
    event = json.loads((EVENTS / "post_detect.json").read_text())
    response = handler(event, LocalContext())
    assert response["statusCode"] == 503
    assert int(response["multiValueHeaders"]["Retry-After"][0]) > 0
    assert "Connection refused" in json.loads(response["body"])["error"]


@pytest.fixture
def aws_services(fake_aws: None) -> Iterator[AwsScanServices]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="asm-watch-api-test")
        machine = "arn:aws:states:us-east-1:123456789012:stateMachine:asm-watch-scan"
        aws = AwsScanServices(machine, Bucket("asm-watch-api-test"), "asm-watch", "asm_watch")
        use_services(aws)
        yield aws


def _public_items(scene: WrittenScene, count: int) -> list[dict[str, Any]]:
    """``count`` copies of a scene's item, renamed, with bands at the public COG bucket."""
    data = json.loads(scene.item_path.read_text())
    for asset in data["assets"].values():
        asset["href"] = f"https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/{asset['href']}"
    return [data | {"id": f"{data['id']}-{i}"} for i in range(count)]


def test_a_scan_request_step_functions_would_refuse_for_its_size_is_a_413(
    aws_services: AwsScanServices, scene_factory: Callable[..., WrittenScene]
) -> None:
    items = _public_items(scene_factory(seed=61, size=512, sites=3, baseline="05.10"), 150)
    assert len(json.dumps(items)) > 256 * 1024
    status, body = _edited_call(
        "post_scans", _replace_body({"items": items, "start": "2024-01-01", "end": "2024-03-31"})
    )
    assert status == 413 and "at most 262144" in body["error"], body
    status, body = _edited_call(
        "post_scans",
        _replace_body({"items": items[:3], "start": "2024-01-01", "end": "2024-03-31"}),
    )
    # small enough: passed on to Step Functions (whose state machine this test has not made)
    assert status == 502 and "StartExecution" in body["error"], body
    assert "arn:aws" not in body["error"]  # which call failed, not the service's internals


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution"), 503),
        (ClientError({"Error": {"Code": "AccessDeniedException"}}, "StartExecution"), 502),
        (EndpointConnectionError(endpoint_url="https://states.test"), 503),
        # the catalogue or a band store failing is not the caller's fault: 503, not 400
        (CatalogUnavailableError("STAC API 'https://x' search failed: 502"), 503),
        (BandSourceUnavailableError("band file 's3://b/B04.tif' cannot be read: timeout"), 503),
        (RasterReadError("band file 'B04.tif' cannot be read: not a TIFF"), 400),
        (ValueError("start after end"), 400),
        (ForbiddenError("no API key"), 403),
        (ScanNotFoundError("no scan 'x'"), 404),
        (NoSceneError("no usable scene covers the area"), 404),
        (ReportNotReadyError("the scan is still RUNNING"), 409),
        (AreaTooLargeError("the area is 9000 km2; at most 2500"), 413),
        (ScanRequestTooLargeError("the request is 7 MB; at most 6"), 413),
        (AthenaQueryError("Athena said FAILED"), 502),
        (ConfigurationError("an internal bug: a variable is missing"), 500),
        (KeyError("an internal bug"), 500),
    ],
)
def test_every_failure_behind_the_api_is_answered_with_its_status(
    aws_services: AwsScanServices,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
) -> None:
    def fail(**kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(aws_services.sfn, "start_execution", fail)
    response = handler(json.loads((EVENTS / "post_scans.json").read_text()), LocalContext())
    assert response["statusCode"] == status
    retry = response["multiValueHeaders"].get("Retry-After")
    assert (retry is not None) == (status == 503)
    assert "internal bug" not in response["body"]  # a 500 keeps its details in the logs
    if status < 500:  # the caller's fault: the answer says what was wrong
        assert str(error).strip("'") in json.loads(response["body"])["error"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/nothing/here"), ("DELETE", "/scans")])
def test_an_unknown_route_is_a_404_naming_it(
    services: RecordingServices, method: str, path: str
) -> None:
    event = json.loads((EVENTS / "get_scan_unknown.json").read_text())
    event.update(httpMethod=method, path=path, resource=path, pathParameters=None)
    response = handler(event, LocalContext())
    assert response["statusCode"] == 404
    assert (
        json.loads(response["body"])["error"]
        == f"no route {method} {path}; routes: see the README (API)"
    )


def _detections_page(**params: str) -> tuple[int, dict[str, Any]]:
    event = json.loads((EVENTS / "get_detections.json").read_text())
    event["queryStringParameters"] = {**event["queryStringParameters"], **params}
    response = handler(event, LocalContext())
    return int(response["statusCode"]), json.loads(response["body"])


def test_detections_come_page_by_page_with_every_row_once(services: RecordingServices) -> None:
    _, whole = _detections_page(limit="5000")
    everything = [f["id"] for f in whole["features"]]
    assert len(everything) > 5 and "next_token" not in whole
    pages, token = [], None
    while True:
        status, page = _detections_page(limit="2", **({"next_token": token} if token else {}))
        assert status == 200 and len(page["features"]) <= 2
        pages.append([f["id"] for f in page["features"]])
        assert all("page_acquired" not in f["properties"] for f in page["features"])
        token = page.get("next_token")
        if token is None:
            break
    assert [i for p in pages for i in p] == everything  # in order, none skipped or repeated
    # the same walk by the pages' GeoJSON links, as a client following rel=next would
    followed, params = [], {"limit": "2"}
    while True:
        _, page = _detections_page(**params)
        followed += [f["id"] for f in page["features"]]
        following = [link for link in page["links"] if link["rel"] == "next"]
        if not following:
            break
        (link,) = following
        assert link["type"] == "application/geo+json" and link["href"].startswith("detections?")
        params = dict(urllib.parse.parse_qsl(link["href"].split("?", 1)[1]))
    assert followed == everything
    status, body = _detections_page(next_token="not-a-token")
    assert status == 400 and "next_token 'not-a-token'" in body["error"]


def test_detections_come_as_their_footprints_when_asked(
    services: RecordingServices, results: Path
) -> None:
    status, page = _detections_page(limit="5000", geometry="polygon")
    assert status == 200 and page["features"], page
    stored = {
        r["detection_id"]: shapely.from_wkb(r["geometry"])
        for r in read_table(results, "detections").to_pylist()
    }
    for feature in page["features"]:
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert shapely.geometry.shape(feature["geometry"]).equals(stored[feature["id"]])
        assert "geometry_wkb" not in feature["properties"]
    _, points = _detections_page(limit="5000")
    assert [f["id"] for f in points["features"]] == [f["id"] for f in page["features"]]
    status, body = _detections_page(geometry="hexagon")
    assert status == 400 and body["error"] == "geometry 'hexagon' must be point or polygon"


def test_a_page_ends_before_it_outgrows_a_lambda_response(
    services: RecordingServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, whole = _detections_page(limit="5000", geometry="polygon")
    everything = [f["id"] for f in whole["features"]]
    monkeypatch.setattr(api_app, "MAX_PAGE_BYTES", 1)  # one feature a page, whatever its size
    pages, token = [], None
    while True:
        extra = {"next_token": token} if token else {}
        status, page = _detections_page(limit="5000", geometry="polygon", **extra)
        assert status == 200 and len(page["features"]) == 1
        pages.append(page["features"][0]["id"])
        token = page.get("next_token")
        if token is None:
            break
    assert pages == everything


@pytest.mark.parametrize(
    ("west", "east", "zones"),
    [
        (-2.2, -1.4, (30, 31)),  # Ghana, zone 30, near 31
        (32.5, 32.9, (35, 37)),  # Svalbard's zone 35X reaches 33°E
        (-180.0, -179.0, (1, 1)),
        (179.0, 180.0, (60, 60)),
    ],
)
def test_a_bbox_names_the_utm_zones_that_can_hold_its_detections(
    west: float, east: float, zones: tuple[int, int]
) -> None:
    assert utm_zones_between(west, east) == zones


def test_detections_are_read_from_the_bbox_s_zones_only(results: Path, tmp_path: Path) -> None:
    """The zone filter is applied: the same rows moved under another zone's partition are not
    read for this bbox (Athena's projection then lists only those zones' folders)."""
    query = DetectionQuery(-180, -90, 180, 90, *_dates("2015-06-23", "2030-01-01"), 5000)
    here = LocalScanServices(results).detections(query)
    assert here
    moved = tmp_path / "moved"
    shutil.copytree(results, moved)
    for folder in sorted(moved.glob("*/dt=*/utm_zone=*")):
        folder.rename(folder.with_name("utm_zone=45"))
    west_africa = dataclasses.replace(query, west=-5.0, east=5.0)
    assert LocalScanServices(results).detections(west_africa) == here
    assert LocalScanServices(moved).detections(west_africa) == []
    assert len(LocalScanServices(moved).detections(query)) == len(here)


def test_a_one_day_window_is_a_window(services: RecordingServices) -> None:
    status, page = _detections_page(start="2024-02-13", end="2024-02-13")
    assert status == 200 and page["type"] == "FeatureCollection"


def test_parameters_as_they_arrive_from_the_gateway_are_compared_by_value(
    services: RecordingServices,
) -> None:
    """The query string reaches the handler parsed from JSON: its strings are new objects."""
    params = json.loads('{"geometry": "polygon", "limit": "5000"}')
    status, page = _detections_page(**params)
    assert status == 200 and page["features"]
    assert all(f["geometry"]["type"] != "Point" for f in page["features"])


def test_a_token_that_does_not_hold_two_strings_is_refused() -> None:
    token = base64.urlsafe_b64encode(json.dumps(["2024-01-01", 5]).encode()).decode()
    status, body = _detections_page(next_token=token)
    assert status == 400 and body["error"].startswith("next_token ")


class _ManyRows(RecordingServices):
    """As many detections as asked for, whatever the query (beyond CPython's small ints)."""

    def detections(self, query: Any) -> list[dict[str, Any]]:
        return [
            {"page_acquired": "2024-01-01", "detection_id": f"d{i:04d}", "lon": 0.0, "lat": 0.0}
            for i in range(min(query.limit, 300))
        ]


def test_a_page_as_long_as_its_limit_says_there_may_be_more(tmp_path: Path) -> None:
    use_services(_ManyRows(tmp_path), require_api_key=False)
    status, page = _detections_page(limit="300")
    assert status == 200 and len(page["features"]) == 300 and "next_token" in page
    status, page = _detections_page(limit="400")
    assert status == 200 and len(page["features"]) == 300 and "next_token" not in page


def test_an_unknown_scan_s_id_is_named_to_its_first_80_characters(
    services: RecordingServices,
) -> None:
    event = json.loads((EVENTS / "get_scan_unknown.json").read_text())
    scan_id = "x" * 100
    event["path"], event["pathParameters"] = f"/scans/{scan_id}", {"scan_id": scan_id}
    response = handler(event, LocalContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 404 and body["error"] == f"no scan with id {'x' * 80!r}"
