"""The API's services on AWS: scans are Step Functions executions (named by scan id), their
summaries S3 objects written by Finalize, and detections an Athena query with bound parameters."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from asm_core.sources.catalog import EARTH_SEARCH_URL, SENTINEL2_L2A
from asm_core.sources.stac import PUBLIC_COG_SOURCES, check_item_sources, readable_sources
from asm_watch_functions.api.detect_request import DetectRequest
from asm_watch_functions.api.services import DetectionQuery, ScanReport
from asm_watch_functions.errors import (
    AthenaQueryError,
    ReportNotReadyError,
    ScanNotFoundError,
    ScanRequestTooLargeError,
)
from asm_watch_functions.events import PlanEvent
from asm_watch_functions.storage import Bucket

ATHENA_TIMEOUT_S = 25.0  # API Gateway answers within 29 s

#: the largest execution input Step Functions accepts, in bytes of UTF-8
EXECUTION_INPUT_MAX_BYTES = 256 * 1024


class AwsScanServices:
    def __init__(
        self,
        state_machine_arn: str,
        bucket: Bucket,
        workgroup: str,
        database: str,
        scans_prefix: str = "scans",
        stac_url: str = EARTH_SEARCH_URL,
        collection: str = SENTINEL2_L2A,
        asset_sources: Sequence[str] = PUBLIC_COG_SOURCES,
    ) -> None:
        self.stac_url, self.collection = stac_url, collection
        #: where bands may be read from: the sources configured and the catalogue's host
        self.item_sources = readable_sources(asset_sources, stac_url)
        self.state_machine_arn = state_machine_arn
        self.bucket, self.workgroup, self.database = bucket, workgroup, database
        self.scans_prefix = scans_prefix
        self.sfn = boto3.client("stepfunctions")
        self.athena = boto3.client("athena")

    def _execution_arn(self, scan_id: str) -> str:
        # arn:aws:states:REGION:ACCOUNT:stateMachine:NAME → …:execution:NAME:SCAN_ID
        prefix, name = self.state_machine_arn.rsplit(":stateMachine:", 1)
        return f"{prefix}:execution:{name}:{scan_id}"

    def start_scan(self, event: PlanEvent) -> dict[str, Any]:
        if event.items is not None:  # the caller's items are read only from allowed sources
            check_item_sources(event.items, self.item_sources)
        scan_id = event.scan_id or uuid.uuid4().hex[:16]
        payload = event.model_copy(update={"scan_id": scan_id}).model_dump_json(exclude_none=True)
        size = len(payload.encode())
        if size > EXECUTION_INPUT_MAX_BYTES:  # AWS would refuse it with a ClientError
            raise ScanRequestTooLargeError(
                f"the scan request is {size} bytes; a scan accepts at most "
                f"{EXECUTION_INPUT_MAX_BYTES}: post fewer items, or a bbox or AOI to search"
            )
        try:
            started = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=scan_id, input=payload
            )
        except self.sfn.exceptions.ExecutionAlreadyExists as e:
            raise ValueError(f"scan id {scan_id!r} is taken; choose another or omit it") from e
        return {"scan_id": scan_id, "status": "RUNNING", "execution_arn": started["executionArn"]}

    def get_scan(self, scan_id: str) -> dict[str, Any]:
        try:
            described = self.sfn.describe_execution(executionArn=self._execution_arn(scan_id))
        except self.sfn.exceptions.ExecutionDoesNotExist as e:
            raise ScanNotFoundError(f"no scan with id {scan_id!r}") from e
        answer: dict[str, Any] = {"scan_id": scan_id, "status": described["status"]}
        if described["status"] == "SUCCEEDED":
            try:
                answer["summary"] = self.bucket.get_json(
                    f"{self.scans_prefix}/{scan_id}/summary.json"
                )
            except ClientError:
                answer["summary"] = None
        return answer

    def report(self, scan_id: str) -> ScanReport:
        """A pre-signed link (an hour) to the report the Finalize step stored."""
        answer = self.get_scan(scan_id)
        key = f"{self.scans_prefix}/{scan_id}/report.html"
        if answer["status"] != "SUCCEEDED" or not self.bucket.exists(key):
            raise ReportNotReadyError(
                f"scan {scan_id!r} is {answer['status']} and has no report at "
                f"s3://{self.bucket.name}/{key} (yet)"
            )
        url = self.bucket.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket.name, "Key": key}, ExpiresIn=3600
        )
        return ScanReport(url=str(url))

    def detect(self, request: DetectRequest) -> dict[str, Any]:
        from asm_watch_functions.api.detect_now import detect_area  # the raster stack, on first use

        return detect_area(
            request, self.stac_url, self.collection, allowed_sources=self.item_sources
        )

    def detections(self, query: DetectionQuery) -> list[dict[str, Any]]:
        started = self.athena.start_query_execution(
            QueryString=query.sql,
            QueryExecutionContext={"Database": self.database},
            WorkGroup=self.workgroup,
            ExecutionParameters=[_athena_literal(v) for v in query.parameters()],
        )
        query_id = started["QueryExecutionId"]
        deadline = time.monotonic() + ATHENA_TIMEOUT_S
        while True:
            status = self.athena.get_query_execution(QueryExecutionId=query_id)
            state = status["QueryExecution"]["Status"]["State"]
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                reason = status["QueryExecution"]["Status"].get("StateChangeReason", state)
                raise AthenaQueryError(f"the detections query failed: {reason}")
            if time.monotonic() > deadline:
                raise AthenaQueryError("the detections query took longer than the API allows")
            time.sleep(0.5)
        # Athena answers at most 1,000 rows a call (the first one the header): follow its pages
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
        rows = [row for page in pages for row in page["ResultSet"]["Rows"]]
        names = [c.get("VarCharValue") for c in rows[0]["Data"]] if rows else []
        return [
            dict(zip(names, [c.get("VarCharValue") for c in r["Data"]], strict=True))
            for r in rows[1:]
        ]


def _athena_literal(value: Any) -> str:
    """Athena execution parameters are SQL literals: numbers as is, strings quoted."""
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"
