"""moto's Step Functions interpreter runs our own scan.asl.json with our real handlers:
Plan → Distributed Map over the S3 manifest → Finalize, with a tile that keeps failing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from asm_core.evaluation.synthetic.scene import WrittenScene
from asm_watch_functions.api.aws_services import AwsScanServices
from asm_watch_functions.api.serve import LocalContext
from asm_watch_functions.events import manifest_tasks
from asm_watch_functions.finalize.app import MISSING
from asm_watch_functions.storage import Bucket
from tests.conftest import edit_item

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "infra" / "statemachine" / "scan.asl.json"
BUCKET = "asm-watch-results-test"
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AsmWatchTest",
        "POWERTOOLS_SERVICE_NAME": "asm-watch-test",
        "ASM_WATCH_RESULTS_BUCKET": BUCKET,
        "ASM_WATCH_MAX_TILES": "10",
        "ASM_WATCH_TILES_PER_BATCH": "2",  # three tiles: a child of two and a child of one
    }.items():
        monkeypatch.setenv(name, value)
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        yield


def _handlers() -> dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]:
    from asm_watch_functions.compact_results.app import handler as compact_results
    from asm_watch_functions.detect_tile.app import handler as detect_tile
    from asm_watch_functions.finalize.app import handler as finalize
    from asm_watch_functions.plan.app import handler as plan
    from asm_watch_functions.track_sites.app import handler as track_sites

    return {
        "plan": plan,
        "detect_tile": detect_tile,
        "track_sites": track_sites,
        "finalize": finalize,
        "compact_results": compact_results,
    }


def _route_lambda_to_handlers(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    """moto runs no Lambda code without Docker: invoke our handlers by function name, and turn
    an exception into Lambda's function-error response, as the real service does."""
    handlers = _handlers()

    def invoke(
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response: Any
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1]
        event = json.loads(body or "{}")
        calls.append((name, event))
        try:
            result = handlers[name](event, LocalContext(function_name=name))
        except Exception as e:
            response["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}).encode()
        return json.dumps(result, default=str).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)


def _state_machine(arns: dict[str, str]) -> str:
    text = ASL.read_text()
    for key, value in {
        "PlanFunctionArn": arns["plan"],
        "DetectTileFunctionArn": arns["detect_tile"],
        "TrackSitesFunctionArn": arns["track_sites"],
        "FinalizeFunctionArn": arns["finalize"],
        "CompactResultsFunctionArn": arns["compact_results"],
        "MapMaxConcurrency": "4",
        # moto's ASL grammar wants a decimal here (AWS takes either)
        "ToleratedFailurePercentage": "0.0",
        "TileRetries": "1",
        # the template deploys EXPRESS children; moto's interpreter accepts only STANDARD
        # (the ASL is otherwise the same)
        "ChildExecutionType": "STANDARD",
    }.items():
        text = text.replace("${" + key + "}", value)
    json.loads(text)  # valid JSON once substituted
    return text


def _deploy() -> str:
    iam = boto3.client("iam")
    role = iam.create_role(
        RoleName="asm-watch-test", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    lam = boto3.client("lambda")
    arns = {
        name: lam.create_function(
            FunctionName=name,
            Role=role,
            PackageType="Image",
            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/asm-watch:test"},
        )["FunctionArn"]
        for name in ("plan", "detect_tile", "track_sites", "finalize", "compact_results")
    }
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    sfn = boto3.client("stepfunctions")
    return str(
        sfn.create_state_machine(name="asm-scan", definition=_state_machine(arns), roleArn=role)[
            "stateMachineArn"
        ]
    )


def _run(machine: str, event: dict[str, Any]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    execution = sfn.start_execution(  # named after the scan, as the API starts them
        stateMachineArn=machine, name=event["scan_id"], input=json.dumps(event)
    )
    for _ in range(600):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError("the execution did not finish in 60 s")


def _tile_runs(prefix: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    rows = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        local = Path("/tmp") / "asm-sfn-test.parquet"
        local.write_bytes(body)
        rows.extend(pq.read_table(local).to_pylist())
    return rows


def test_scan_plans_detects_every_tile_and_records_a_failing_one(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    scene_factory: Callable[..., WrittenScene],
    tmp_path: Path,
) -> None:
    scenes = [
        scene_factory(seed=seed, size=256, sites=2, baseline="05.10") for seed in (41, 42, 43)
    ]
    items = [
        json.loads(edit_item(s.item_path, tmp_path / str(i), lambda d: None).read_text())
        for i, s in enumerate(scenes)
    ]
    # the deployment reads bands from the scenes' folder (as it would from sentinel-cogs)
    monkeypatch.setenv("ASM_WATCH_ASSET_SOURCES", str(scenes[0].item_path.resolve().parents[2]))
    doomed = items[2]["id"]
    import asm_watch_functions.detect_tile.app as detect_app

    real_run_item = detect_app.run_item

    def crash_on_doomed(item: Any, *args: Any, **kwargs: Any) -> Any:
        if item.item_id == doomed:
            raise RuntimeError("simulated crash reading " + doomed)
        return real_run_item(item, *args, **kwargs)

    monkeypatch.setattr(detect_app, "run_item", crash_on_doomed)
    calls: list[tuple[str, dict[str, Any]]] = []
    _route_lambda_to_handlers(monkeypatch, calls)

    machine = _deploy()
    s3 = boto3.client("s3")
    west, south, east, north = items[0]["bbox"]
    reserve = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"WDPAID": 4242},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[west, south], [east, south], [east, north], [west, north], [west, south]]
                    ],
                },
            }
        ],
    }
    s3.put_object(Bucket=BUCKET, Key="context/protected_areas.geojson", Body=json.dumps(reserve))
    s3.put_object(Bucket=BUCKET, Key="context/tenements.geojson", Body=b"not a layer")
    done = _run(
        machine,
        {"scan_id": "test-scan", "items": items, "start": "2020-01-01", "end": "2030-01-01"},
    )

    assert done["status"] == "SUCCEEDED", done
    summary = json.loads(done["output"])["summary"]
    assert summary["planned"] == 3
    assert summary["statuses"] == {"ok": 2, "no_data": 0, "failed": 1}
    assert summary["failures"][0]["item_id"] == doomed
    # the scan's tiles' sites were brought up to date, with the bucket's context layers
    monitoring = summary["monitoring"]
    assert monitoring["sites"] > 0 and monitoring["tiles_tracked"] == 3  # the failed one too
    assert monitoring["context_layers"] == ["protected_areas"]
    (bad,) = monitoring["context_errors"]
    assert bad.startswith(f"context layer 'tenements': 's3://{BUCKET}/context/tenements.geojson'")
    alerts = json.loads(
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key="scans/test-scan/alerts.geojson")["Body"]
        .read()
    )
    assert len(alerts["features"]) == monitoring["alerts"] >= monitoring["sites"]
    in_reserve = [f for f in alerts["features"] if f["properties"]["high_priority"]]
    assert in_reserve and all("HIGH PRIORITY" in f["properties"]["reason"] for f in in_reserve)
    assert "simulated crash" in summary["failures"][0]["error"]
    # the doomed tile was tried twice (TileRetries=1), then recorded by the Catch
    doomed_calls = [e for n, e in calls if n == "detect_tile" and e["item_id"] == doomed]
    assert len(doomed_calls) == 3 and "error" in doomed_calls[-1]
    runs = {r["item_id"]: r for r in _tile_runs("results/tile_runs/")}
    assert {r["status"] for i, r in runs.items() if i != doomed} == {"ok"}
    assert runs[doomed]["status"] == "failed"
    # last, each partition the scan wrote to was merged: one file per table and partition
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key="manifests/test-scan/manifest.json")["Body"].read()
    )
    partitions = json.loads(
        s3.get_object(Bucket=BUCKET, Key="manifests/test-scan/partitions.json")["Body"].read()
    )
    assert [n for n, _ in calls].count("compact_results") == len(partitions) >= 1
    doomed_partition = next(
        t.keys["tile_runs"] for t in manifest_tasks(manifest) if t.item_id == doomed
    )
    for table in ("tile_runs", "detections"):
        files = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"results/{table}/")["Contents"]
        assert sorted(o["Key"] for o in files) == sorted(
            f"results/{table}/{p['partition']}/compacted.parquet"
            for p in partitions
            # the failed tile's partition holds no detections
            if table == "tile_runs" or p["partition"] not in doomed_partition
        )
    detected = {r["item_id"] for r in _tile_runs("results/detections/")}
    assert detected and doomed not in detected  # none for the failed tile
    for item_id in runs:
        stac_item = (
            json.loads(
                s3.get_object(Bucket=BUCKET, Key=f"results/stac/items/{item_id}.json")[
                    "Body"
                ].read()
            )
            if item_id != doomed
            else None
        )
        if stac_item is not None:
            assert stac_item["assets"]["detections"]["href"].endswith("/compacted.parquet")
    stored = json.loads(
        s3.get_object(Bucket=BUCKET, Key="scans/test-scan/summary.json")["Body"].read()
    )
    assert stored["statuses"] == summary["statuses"]
    assert [len(row["tasks"]) for row in manifest] == [2, 1]
    assert sorted(t.item_id for t in manifest_tasks(manifest)) == sorted(i["id"] for i in items)
    # one site group per tile here (30NZ, 30NT, 30NU): each group's sites updated apart
    assert monitoring["groups"] == 3 and monitoring["groups_failed"] == []
    assert sorted(monitoring["reports"]) == ["30NT", "30NU", "30NZ"]
    assert [name for name, _ in calls].count("track_sites") == 3
    # the scan's report, as GET /scans/{id}/report hands it out: a pre-signed link to a page
    # that links each group's report
    assert monitoring["report"] == f"s3://{BUCKET}/scans/test-scan/report.html"
    link = AwsScanServices(machine, Bucket(BUCKET), "asm-watch", "asm_watch").report("test-scan")
    assert link.url is not None and "/scans/test-scan/report.html?" in link.url
    page = s3.get_object(Bucket=BUCKET, Key="scans/test-scan/report.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert page["Body"].read().decode().count("/scans/test-scan/reports/") == 3
    group_page = s3.get_object(Bucket=BUCKET, Key="scans/test-scan/reports/30NZ.html")
    assert group_page["ContentType"] == "text/html; charset=utf-8"
    assert b"window.ASM_REPORT" in group_page["Body"].read()
    site_keys = {
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="results/site")["Contents"]
    }
    assert site_keys == {
        f"results/{table}/{table}_{group}.parquet"
        for table in ("sites", "site_observations", "site_context")
        for group in ("30NT", "30NU", "30NZ")
    } | {
        f"results/site_history/{group}/{table}.parquet"
        for table in ("tile_runs", "detections")
        for group in ("30NT", "30NU", "30NZ")
        if (table, group) != ("detections", "30NU")  # the failed tile's: no detections
    }


def test_a_child_workflow_that_fails_whole_still_ends_in_recorded_failures(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    scene_factory: Callable[..., WrittenScene],
    tmp_path: Path,
) -> None:
    """An EXPRESS child can die whole (its 5-minute cap; here the function cannot even record
    the failure): the Map's Catch still reaches Finalize, which records the lost tile-date."""
    scenes = [scene_factory(seed=seed, size=256) for seed in (41, 42)]
    items = [
        json.loads(edit_item(s.item_path, tmp_path / str(i), lambda d: None).read_text())
        for i, s in enumerate(scenes)
    ]
    monkeypatch.setenv("ASM_WATCH_ASSET_SOURCES", str(scenes[0].item_path.resolve().parents[2]))
    monkeypatch.setenv("ASM_WATCH_TILES_PER_BATCH", "1")
    doomed = items[1]["id"]
    import asm_watch_functions.detect_tile.app as detect_app

    real_detect = detect_app.detect_tile

    def always_crash(task: Any, *args: Any) -> Any:
        if task.item_id == doomed:
            raise RuntimeError("the function cannot start")
        return real_detect(task, *args)

    monkeypatch.setattr(detect_app, "detect_tile", always_crash)
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: None))
    calls: list[tuple[str, dict[str, Any]]] = []
    _route_lambda_to_handlers(monkeypatch, calls)
    done = _run(
        _deploy(), {"scan_id": "half", "items": items, "start": "2020-01-01", "end": "2030-01-01"}
    )

    assert done["status"] == "SUCCEEDED", done
    summary = json.loads(done["output"])["summary"]
    assert summary["statuses"] == {"ok": 1, "no_data": 0, "failed": 1}
    (failure,) = summary["failures"]
    assert failure["item_id"] == doomed
    assert failure["error"] == MISSING
    tries = [e for n, e in calls if n == "detect_tile" and e["item_id"] == doomed]
    assert len(tries) == 2 + 4  # two attempts (TileRetries=1), then the record and its 3 retries
