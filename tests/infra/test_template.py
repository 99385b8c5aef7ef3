"""The SAM template: cfn-lint, plus what cfn-lint no longer checks on SAM resources, and that
the Glue tables, the state machine and the image commands agree with the code."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from asm_core.results.schema import (
    DETECTIONS,
    SITE_CONTEXT,
    SITE_OBSERVATIONS,
    SITES,
    TILE_RUNS,
    glue_columns,
)
from asm_watch_functions.errors import SiteTablesBusyError
from asm_watch_functions.settings import Settings
from asm_watch_functions.track_sites.app import LOCK_MARGIN_SECONDS
from tests.venv_tools import venv_tool

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
LAMBDA_MAX_MEMORY_MB, LAMBDA_MAX_TIMEOUT_S = 10240, 900


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt …) as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    return loaded


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _value(template: dict[str, Any], value: Any, bound: str) -> Any:
    """A literal, or the Min/MaxValue bound of the parameter a !Ref points at."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]][bound]
    return value


def test_cfn_lint_passes() -> None:
    exe = venv_tool("cfn-lint")
    done = subprocess.run([exe, str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_functions_stay_within_lambda_limits(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    for name, fn in _resources(template, "AWS::Serverless::Function").items():
        props = {**globals_, **fn["Properties"]}
        assert _value(template, props["MemorySize"], "MaxValue") <= LAMBDA_MAX_MEMORY_MB, name
        assert _value(template, props["MemorySize"], "MinValue") >= 128, name
        assert _value(template, props["Timeout"], "MaxValue") <= LAMBDA_MAX_TIMEOUT_S, name
        assert props["PackageType"] == "Image", name
        assert set(props["Architectures"]) <= {"x86_64", "arm64"}, name
        assert props["Tracing"] == "Active", name


def test_every_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    groups = {}
    for group in _resources(template, "AWS::Logs::LogGroup").values():
        name = group["Properties"]["LogGroupName"]
        groups[str(name["Fn::Sub"] if isinstance(name, dict) else name)] = group["Properties"]
    for name in _resources(template, "AWS::Serverless::Function"):
        group = groups.get(f"/aws/lambda/${{{name}}}")
        assert group is not None, f"{name} has no log group"
        assert group.get("RetentionInDays"), f"{name}'s log group keeps logs forever"


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in template["Resources"].values():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict) and "Statement" in policy:
                found.extend(policy["Statement"])
    return found


def test_no_wildcards_on_s3_actions(template: dict[str, Any]) -> None:
    statements = _statements(template)
    assert statements
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        s3 = [a for a in actions if a.startswith("s3:")]
        assert not [a for a in s3 if "*" in a], statement
        if s3:
            assert statement["Resource"] != "*", statement


@pytest.mark.parametrize("function", ["TrackSitesFunction", "FinalizeFunction"])
def test_the_site_functions_may_list_their_bucket_so_missing_objects_read_as_missing(
    template: dict[str, Any], function: str
) -> None:
    """S3 answers a GetObject of a missing key with 403, not 404, unless the caller has
    s3:ListBucket on the bucket; a condition on s3:prefix does not count for that check. A
    group's first update reads site tables that do not exist yet, and Finalize reads the
    outcome of a group that left none (moto does not enforce IAM, so only this test sees it)."""
    finalize = template["Resources"][function]["Properties"]["Policies"]
    lists = [
        st
        for policy in finalize
        if isinstance(policy, dict)
        for st in policy.get("Statement", [])
        if "s3:ListBucket" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    ]
    assert lists and any("Condition" not in st for st in lists), lists


def test_a_group_update_may_take_its_lock_and_the_state_machine_retries_a_busy_one(
    template: dict[str, Any],
) -> None:
    fields = Settings.model_fields
    lock = (
        f"{fields['locks_prefix'].default}/{fields['results_prefix'].default}/site-groups/36NX.json"
    )
    policies = template["Resources"]["TrackSitesFunction"]["Properties"]["Policies"]
    statements = [st for p in policies if isinstance(p, dict) for st in p.get("Statement", [])]
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        patterns = [
            r["Fn::Sub"].replace("${ResultsBucket.Arn}/", "")
            for st in statements
            if action in st["Action"]
            for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
            if isinstance(r, dict) and "Fn::Sub" in r
        ]
        assert any(fnmatch(lock, p) for p in patterns), (action, patterns)
    (sm,) = _resources(template, "AWS::Serverless::StateMachine").values()
    definition = (ROOT / sm["Properties"]["DefinitionUri"]).read_text()
    machine = json.loads(re.sub(r"\$\{\w+\}", "0", definition))  # placeholders: numbers or ARNs
    track = machine["States"]["TrackSites"]["ItemProcessor"]["States"]["TrackGroup"]
    (busy,) = [r for r in track["Retry"] if SiteTablesBusyError.__name__ in r["ErrorEquals"]]
    track_timeout = template["Resources"]["TrackSitesFunction"]["Properties"]["Timeout"]
    # retried for longer than a holder can live (its timeout, and the lock's margin)
    assert busy["IntervalSeconds"] * busy["MaxAttempts"] > track_timeout + LOCK_MARGIN_SECONDS


def test_results_keep_versions_and_the_api_cannot_take_all_concurrency(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["ResultsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)  # versions do not pile up
    api = template["Resources"]["ApiFunction"]["Properties"]
    assert api["ReservedConcurrentExecutions"] == {"Ref": "ApiConcurrency"}


def test_every_api_request_is_logged_where_logs_expire(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    access = resources["Api"]["Properties"]["AccessLogSetting"]
    group = access["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for field in ("requestId", "ip", "apiKeyId", "path", "status"):
        assert f'"{field}":' in access["Format"], field
    json.loads(access["Format"].replace("\n", " "))  # one JSON object per request
    # the account's logs role: made here, or the account's own kept ("existing")
    account = resources["ApiGatewayAccount"]
    assert account["Condition"] == "CreatesApiGatewayLogsRole"
    assert "ApiGatewayAccountReady" in str(resources["Api"]["DependsOn"])


def test_every_checkov_skip_says_why(template: dict[str, Any]) -> None:
    """checkov passes the template with its findings either fixed or skipped here, each with its
    reason (`checkov -f template.yaml`; not run in the tests: it needs the network for its
    guideline list and pulls ~100 packages)."""
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 40, (name, skip)


def test_glue_columns_are_the_schema_of_the_parquet_writer(template: dict[str, Any]) -> None:
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in _resources(template, "AWS::Glue::Table").values()
    }
    for name, schema in (("detections", DETECTIONS), ("tile_runs", TILE_RUNS)):
        columns = tables[name]["StorageDescriptor"]["Columns"]
        assert columns == glue_columns(schema), name
        keys = [k["Name"] for k in tables[name]["PartitionKeys"]]
        assert keys == ["dt", "utm_zone"]
        location = tables[name]["Parameters"]["storage.location.template"]["Fn::Sub"]
        assert location.endswith(f"/results/{name}/dt=${{!dt}}/utm_zone=${{!utm_zone}}")
    for name, schema in (
        ("sites", SITES),
        ("site_observations", SITE_OBSERVATIONS),
        ("site_context", SITE_CONTEXT),
    ):
        assert tables[name]["StorageDescriptor"]["Columns"] == glue_columns(schema), name
        assert tables[name]["StorageDescriptor"]["Location"]["Fn::Sub"].endswith(f"/{name}/")


def test_state_machine_substitutions_match_the_definition(template: dict[str, Any]) -> None:
    (machine,) = _resources(template, "AWS::Serverless::StateMachine").values()
    definition = (ROOT / machine["Properties"]["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", definition))
    assert placeholders == set(machine["Properties"]["DefinitionSubstitutions"])


def test_image_commands_name_real_handlers(template: dict[str, Any]) -> None:
    for name, fn in _resources(template, "AWS::Serverless::Function").items():
        (command,) = fn["Properties"]["ImageConfig"]["Command"]
        module, attribute = command.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute)), name
        assert (ROOT / fn["Metadata"]["Dockerfile"]).is_file(), name


def test_every_api_route_is_an_api_gateway_event_and_back(template: dict[str, Any]) -> None:
    source = (ROOT / "functions" / "asm_watch_functions" / "api" / "app.py").read_text()
    routes = {
        (method.upper(), re.sub(r"<(\w+)>", r"{\1}", path))
        for method, path in re.findall(r'@app\.(get|post|put|delete)\("([^"]+)"\)', source)
    }
    (api,) = (
        fn
        for fn in _resources(template, "AWS::Serverless::Function").values()
        if fn["Properties"]["ImageConfig"]["Command"] == ["asm_watch_functions.api.app.handler"]
    )
    events = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in api["Properties"]["Events"].values()
        if e["Type"] == "Api"
    }
    assert routes == events


def test_named_queries_are_the_catalogue_files(template: dict[str, Any]) -> None:
    named = {
        q["Properties"]["Name"]: q["Properties"]["QueryString"]
        for q in _resources(template, "AWS::Athena::NamedQuery").values()
    }
    files = {p.stem: p.read_text() for p in (ROOT / "infra" / "athena" / "queries").glob("*.sql")}
    assert set(named) == set(files), "run scripts/sync_named_queries.py"
    for name, text in files.items():
        assert named[name].strip() == text.strip(), f"{name}: run scripts/sync_named_queries.py"


#: EXPRESS workflows stop at five minutes
EXPRESS_LIMIT_S = 300
#: what recording a failure may take after the last attempt (it reads and writes one small row)
RECORD_MARGIN_S = 30


def test_a_tile_s_attempts_fit_in_an_express_child(template: dict[str, Any]) -> None:
    """With the defaults, a tile that times out on every attempt is still recorded by its own
    child, before EXPRESS's cap stops it (past it, Finalize records the tile-date)."""
    (machine,) = _resources(template, "AWS::Serverless::StateMachine").values()
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["ChildExecutionType"] == {"Ref": "ChildWorkflowType"}
    assert template["Parameters"]["ChildWorkflowType"]["Default"] == "EXPRESS"
    definition = json.loads(
        re.sub(r"\$\{(\w+)\}", "1", (ROOT / machine["Properties"]["DefinitionUri"]).read_text())
    )
    child = definition["States"]["DetectTiles"]["ItemProcessor"]["States"]["DetectBatch"]
    (catch_all,) = [
        r
        for r in child["ItemProcessor"]["States"]["DetectTile"]["Retry"]
        if r["ErrorEquals"] == ["States.ALL"]
    ]
    params = template["Parameters"]
    retries = params["TileRetries"]["Default"]
    timeout = template["Resources"]["DetectTileFunction"]["Properties"]["Timeout"]
    assert timeout == {"Ref": "TileTimeoutSeconds"}
    waits = sum(
        catch_all["IntervalSeconds"] * catch_all["BackoffRate"] ** k for k in range(retries)
    )
    worst = (retries + 1) * params["TileTimeoutSeconds"]["Default"] + waits + RECORD_MARGIN_S
    assert worst <= EXPRESS_LIMIT_S, worst
    assert params["TilesPerBatch"]["MaxValue"] <= 40  # an inline Map's parallelism
    assert child["MaxConcurrency"] == 0  # the batch's tiles all at once
    assert "Catch" in definition["States"]["DetectTiles"]  # a failed map still reaches Finalize


def test_gdal_options_have_one_home(template: dict[str, Any]) -> None:
    """The handlers pass asm_core/sources/gdal_settings.py's options to every read; the same
    options in the functions' environment would be a second copy to drift."""
    from asm_core.sources.gdal_settings import read_options

    environments = [template["Globals"]["Function"].get("Environment", {})]
    environments += [
        f["Properties"].get("Environment", {})
        for f in _resources(template, "AWS::Serverless::Function").values()
    ]
    names = {name for env in environments for name in env.get("Variables", {})}
    assert not names & set(read_options()), names & set(read_options())
    assert not {n for n in names if n.startswith(("GDAL_", "CPL_", "VSI_"))}


def test_one_digit_zones_are_written_where_athena_s_projection_looks(
    template: dict[str, Any],
) -> None:
    """The tables project ``utm_zone`` as a plain integer (1..60, no digits): a zone 5 item
    must land in ``utm_zone=5``; ``utm_zone=05`` would be a partition Athena never reads."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from asm_core.results.result_paths import result_keys
    from asm_core.sources.stac import load_item

    for table in _resources(template, "AWS::Glue::Table").values():
        parameters = table["Properties"]["TableInput"].get("Parameters", {})
        if "projection.utm_zone.type" not in parameters:
            continue
        assert parameters["projection.utm_zone.type"] == "integer"
        assert parameters["projection.utm_zone.range"] == "1,60"
        assert "projection.utm_zone.digits" not in parameters
    item = load_item(
        str(Path(__file__).parents[1] / "data" / "stac" / "S2A_39QTA_20230628_0_L2A.json")
    )
    for tile, zone in (("05NKF", 5), ("09QTA", 9), ("36NXF", 36)):
        scene = replace(item, mgrs_tile=tile, acquired=datetime(2024, 1, 5, tzinfo=UTC))
        partitioned = [k for k in result_keys(scene).values() if "/dt=" in k]
        assert len(partitioned) >= 3  # detections, tile_runs, masks
        for key in partitioned:
            assert f"/dt=2024-01-05/utm_zone={zone}/" in f"/{key}", key
