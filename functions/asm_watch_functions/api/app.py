"""The REST API: start scans, follow them, and query detections.

    POST /scans            {bbox | aoi | items, start, end | lookback_days, max_cloud} → 202
    POST /detect           {bbox, start, end, max_cloud}: a small area now, as GeoJSON (≤ 100 km²;
                           larger areas get 413 and the limit)
    GET  /scans/{scan_id}  status and, when done, the scan summary
    GET  /detections?bbox=W,S,E,N&start=YYYY-MM-DD&end=YYYY-MM-DD&limit=N&geometry=point|polygon

The same handler runs on Lambda (API Gateway proxy events) and under ``asm serve`` on this
machine. One table maps exceptions to status codes; every error is JSON with a message.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable
from datetime import date
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

import asm_watch_functions.numba_cache  # noqa: F401 - /detect runs the kernels: the image's, not compiled
from asm_core.errors import AsmError, UpstreamError
from asm_core.sources.aoi import check_bbox
from asm_watch_functions.api.detect_request import DetectRequest
from asm_watch_functions.api.services import DetectionQuery, ScanServices
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
from asm_watch_functions.events import SCAN_ID, PlanEvent
from asm_watch_functions.settings import API_SERVICE, METRICS_NAMESPACE

logger = Logger(service=API_SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=API_SERVICE)
tracer = Tracer(service=API_SERVICE)
app = APIGatewayRestResolver()

MAX_DETECTIONS = 5000
#: a page's features stop short of this (Lambda answers at most 6 MB)
MAX_PAGE_BYTES = 5_000_000
#: what a 503 (the catalogue unreachable or failing) asks the client to wait, in seconds
RETRY_AFTER_S = 60
#: AWS error codes that mean "busy, try later": a 503 with Retry-After. Any other refusal by an
#: AWS service is a 502: the request was sound, the service we passed it on to failed it.
AWS_BUSY = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalServerError",
    }
)
#: Exceptions → HTTP status (the most specific class wins); 5xx details stay in the logs.
ERROR_STATUS: dict[type[Exception], HTTPStatus] = {
    ValidationError: HTTPStatus.BAD_REQUEST,
    json.JSONDecodeError: HTTPStatus.BAD_REQUEST,
    ValueError: HTTPStatus.BAD_REQUEST,
    AsmError: HTTPStatus.BAD_REQUEST,
    ScanNotFoundError: HTTPStatus.NOT_FOUND,
    ReportNotReadyError: HTTPStatus.CONFLICT,
    NoSceneError: HTTPStatus.NOT_FOUND,
    AreaTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    ScanRequestTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UpstreamError: HTTPStatus.SERVICE_UNAVAILABLE,
    BotoCoreError: HTTPStatus.SERVICE_UNAVAILABLE,  # an AWS endpoint unreachable
    ClientError: HTTPStatus.BAD_GATEWAY,
    AthenaQueryError: HTTPStatus.BAD_GATEWAY,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
    ForbiddenError: HTTPStatus.FORBIDDEN,
    ServiceError: HTTPStatus.NOT_FOUND,  # its own status code, in _status
    Exception: HTTPStatus.INTERNAL_SERVER_ERROR,  # every other exception: answered, logged
}

_services: list[ScanServices] = []
_require_api_key: list[bool] = [True]


def use_services(services: ScanServices, require_api_key: bool = True) -> None:
    """Choose where the API's work happens (AWS, or this machine for ``asm serve``, which
    listens on 127.0.0.1 only and needs no key)."""
    _services[:] = [services]
    _require_api_key[:] = [require_api_key]


def _api_key_checked(app: APIGatewayRestResolver, next_middleware: Any) -> Any:
    """Defence in depth: API Gateway checks the key; a request without one never gets here
    unless the stage is misconfigured, and then it is refused, not served."""
    identity = (app.current_event.raw_event.get("requestContext") or {}).get("identity") or {}
    if _require_api_key[0] and not identity.get("apiKeyId"):
        raise ForbiddenError("missing API key: send it in the x-api-key header")
    return next_middleware(app)


app.use(middlewares=[_api_key_checked])


def services() -> ScanServices:
    if not _services:
        from asm_watch_functions.api.aws_deployment import services_from_environment

        use_services(services_from_environment())
    return _services[0]


def _json(status: HTTPStatus, body: Any) -> Response[str]:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
    )


def _message(error: Exception) -> str:
    if isinstance(error, NotFoundError):
        event = app.current_event
        return f"no route {event.http_method} {event.path}; routes: see the README (API)"
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _status(error: Exception) -> HTTPStatus:
    if isinstance(error, ServiceError):  # powertools' own: an unknown route is a 404
        return HTTPStatus(error.status_code)
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        return HTTPStatus.SERVICE_UNAVAILABLE if code in AWS_BUSY else HTTPStatus.BAD_GATEWAY
    # the most specific class in the table wins (AreaTooLargeError is also a ValueError)
    return next(ERROR_STATUS[k] for k in type(error).__mro__ if k in ERROR_STATUS)


def _upstream_message(error: Exception) -> str:
    """What a 502/503 says: which service failed, not its internals."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        return f"an AWS service refused {error.operation_name} ({code})"
    if isinstance(error, BotoCoreError):
        return "an AWS service could not be reached"
    if isinstance(error, AthenaQueryError):
        return "the detections query failed in Athena; see the function's logs"
    return _message(error)


def _handles(kind: type[Exception]) -> Callable[[Exception], Response[str]]:
    def handle(error: Exception) -> Response[str]:
        status = _status(error)
        if status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.SERVICE_UNAVAILABLE):
            logger.warning("upstream failed", extra={"error": _message(error)}, exc_info=error)
            response = _json(status, {"error": _upstream_message(error)})
            if status == HTTPStatus.SERVICE_UNAVAILABLE:  # a service we use is busy or down
                response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.exception("request failed")
            return _json(status, {"error": "internal error; see the function's logs"})
        return _json(status, {"error": _message(error)})

    return handle


for _kind in ERROR_STATUS:
    app.exception_handler(_kind)(_handles(_kind))


def _body() -> dict[str, Any]:
    raw = app.current_event.body
    if not raw:
        raise ValueError("the request has no JSON body")
    try:
        body = json.loads(raw)
    except RecursionError as e:  # nesting deeper than the parser's stack: not a request of ours
        raise ValueError("the JSON body is nested too deeply") from e
    except json.JSONDecodeError as e:
        raise ValueError(
            f"the body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        ) from e
    if not isinstance(body, dict):
        raise ValueError("the JSON body must be an object")
    return body


@app.post("/scans")
def start_scan() -> Response[str]:
    event = PlanEvent.model_validate(_body())
    return _json(HTTPStatus.ACCEPTED, services().start_scan(event))


@app.post("/detect")
def detect() -> Response[str]:
    request = DetectRequest.model_validate(_body())
    return _json(HTTPStatus.OK, services().detect(request))


def _scan_id(scan_id: str) -> str:
    """A scan id from the path: a name (as POST /scans accepts), never a path."""
    if not re.match(SCAN_ID, scan_id):
        raise ScanNotFoundError(f"no scan with id {scan_id[:80]!r}")
    return scan_id


@app.get("/scans/<scan_id>")
def get_scan(scan_id: str) -> Response[str]:
    return _json(HTTPStatus.OK, services().get_scan(_scan_id(scan_id)))


@app.get("/scans/<scan_id>/report")
def get_report(scan_id: str) -> Response[str]:
    """The scan's self-contained HTML report, or (on AWS) a redirect to a pre-signed link."""
    found = services().report(_scan_id(scan_id))
    if found.url is not None:
        return Response(
            status_code=HTTPStatus.SEE_OTHER,
            content_type="application/json",
            body=json.dumps({"url": found.url}),
            headers={"Location": found.url},
        )
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", found.html or "")


def _detection_query(params: dict[str, str]) -> DetectionQuery:
    bbox = params.get("bbox")
    if not bbox:
        raise ValueError("bbox is required: bbox=W,S,E,N in degrees")
    try:
        numbers = [float(v) for v in bbox.split(",")]
    except ValueError as e:
        raise ValueError(f"bbox {bbox!r} is not W,S,E,N (four numbers)") from e
    west, south, east, north = check_bbox(numbers, repr(bbox))  # as everywhere else
    if west > east:  # the query is one longitude range
        raise ValueError(f"bbox {bbox!r} crosses the antimeridian; ask for each side (W < E)")
    try:
        start = date.fromisoformat(params.get("start", "2015-06-23"))
        end = date.fromisoformat(params.get("end", date.today().isoformat()))
    except ValueError as e:
        raise ValueError(f"start and end are dates as YYYY-MM-DD: {e}") from e
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    raw_limit = params.get("limit", "1000")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_DETECTIONS:
        raise ValueError(f"limit {raw_limit!r} must be a whole number from 1 to {MAX_DETECTIONS}")
    after = _page_after(params["next_token"]) if params.get("next_token") else ("", "")
    shape = params.get("geometry", "point")
    if shape not in ("point", "polygon"):
        raise ValueError(f"geometry {shape[:40]!r} must be point or polygon")
    return DetectionQuery(
        west, south, east, north, start, end, int(raw_limit), after, polygons=shape == "polygon"
    )


def _page_token(row: dict[str, Any]) -> str:
    """The opaque token of the page after ``row``: where it stood in the page order."""
    cursor = json.dumps([str(row["page_acquired"]), str(row["detection_id"])])
    return base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")


def _page_after(token: str) -> tuple[str, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        acquired, detection_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(acquired, str) and isinstance(detection_id, str)):
            raise ValueError(token)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"next_token {token[:60]!r} is not a token this API gave; use the next_token of "
            "the previous page as it came"
        ) from e
    return acquired, detection_id


def _feature(row: dict[str, Any]) -> dict[str, Any]:
    hidden = ("page_acquired", "geometry_wkb")
    if "geometry_wkb" in row:
        import shapely  # only for polygons: the API's cold start stays lean

        geometry = shapely.geometry.mapping(shapely.from_wkb(bytes.fromhex(row["geometry_wkb"])))
        properties = {k: v for k, v in row.items() if k not in hidden}
    else:
        geometry = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
        properties = {k: v for k, v in row.items() if k not in (*hidden, "lon", "lat")}
    return {
        "type": "Feature",
        "id": row["detection_id"],
        "geometry": geometry,
        "properties": properties,
    }


@app.get("/detections")
def detections() -> Response[str]:
    """A page of detections as GeoJSON points (or ``geometry=polygon``: footprints);
    ``next_token`` (when there is more) asks for the next page with the same parameters.
    A page ends early rather than outgrow Lambda's response limit."""
    query = _detection_query(dict(app.current_event.query_string_parameters or {}))
    rows = services().detections(query)
    features: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        feature = _feature(row)
        size += len(json.dumps(feature, default=str)) + 1
        if features and size > MAX_PAGE_BYTES:
            break
        features.append(feature)
    page: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    params = dict(app.current_event.query_string_parameters or {})
    page["links"] = [_page_link("self", params)]
    if len(features) < len(rows) or len(rows) == query.limit:
        page["next_token"] = _page_token(rows[len(features) - 1])
        page["links"].append(_page_link("next", params | {"next_token": page["next_token"]}))
    return _json(HTTPStatus.OK, page)


def _page_link(rel: str, params: dict[str, str]) -> dict[str, str]:
    """A link to this route with ``params`` (as OGC API Features pages link to the next):
    relative to the API's root, so it is right behind any stage or domain name."""
    return {
        "rel": rel,
        "type": "application/geo+json",
        "href": f"detections?{urllib.parse.urlencode(sorted(params.items()))}",
    }


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
