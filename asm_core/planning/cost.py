"""What a plan will cost before any pixel is read: bytes, CPU, local time and the AWS bill.

The AWS figure follows the deployed application line by line (``template.yaml``,
``infra/statemachine/scan.asl.json``): one per-tile Lambda invocation per tile-date; one
EXPRESS child workflow per batch of tile-dates, started by the Distributed Map (one state
transition each, plus the parent's own few); two result objects written to S3 per tile-date;
then one site update per site group (:mod:`asm_core.planning.site_groups`), a STANDARD child of the
second map, which tracks its tiles again from their whole history.
Prices are AWS list prices in us-west-2, where ``sentinel-cogs`` lives.
The machine figures come from ``tests/bench/tile.py`` (see :class:`CostModel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import MultiPolygon, Polygon, shape

from asm_core.sources.sentinel2 import BAND_RESOLUTION_M, mgrs_tile
from asm_core.sources.stac import StacItemDict

#: Compressed bytes of one full 10980² tile per band, measured on Earth Search COGs
#: (uint16 DEFLATE): ~108 MB per 10 m band, ~27 MB per 20 m band, ~3 MB for SCL.
FULL_TILE_BYTES = {10: 108_000_000, 20: 27_000_000, "scl": 3_000_000}
FULL_TILE_MEGAPIXELS = 10980 * 10980 / 1e6
#: Lambda gives a function one full vCPU at 1,769 MB, in proportion below and above.
LAMBDA_MB_PER_VCPU = 1769.0
#: USD per GB-second of Lambda duration, per architecture (first pricing tier).
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}


#: CPU-seconds of the whole per-tile job (read → detections written, three baseline looks) on a
#: full tile, and its peak RSS, measured by ``python tests/bench/tile.py [--landscape …]`` on
#: this project's 2-core development machine (an AMD EPYC; the same job ran 2.2× faster on the
#: machine of an earlier session, so Lambda's own CPUs may well be faster):
#: - ``real_farmland``: a tile of real Sentinel-2 farmland pixels (the real development set's
#:   Indian patches, mosaicked): ~25,000 objects to judge, 69.9 CPU-s, 1,064 MB (119.0 before
#:   its candidates were traced together, only mappable sites measured and the looks read in
#:   blocks);
#: - ``synthetic``: the synthetic tile, ASM sites among look-alikes: ~1,200 objects, 27.7 CPU-s,
#:   683 MB (26.1 with the looks read window by window only).
#: The job's time grows with the objects it judges, so a tile of forest or open water costs
#: less than either and dense smallholder farmland the most.
#: Each figure then gained the class mask COG (issue 16: the reported polygons burnt strip by
#: strip, overviews by nearest pixel), measured as its own stage of the same bench: 1.3 CPU-s
#: on the real farmland tile, 1.6 on the synthetic one (69.9 + 1.3, 27.7 + 1.6).
MEASURED_CPU_SECONDS = {"real_farmland": 71.2, "synthetic": 29.3}

#: One site group's update, measured by ``python tests/bench/finalize_scale.py --weeks 13
#: --weeks 52`` (a group of 10 tiles, weekly history, synthetic rows: 2 sites a tile) on the same
#: machine: 7.1 CPU-s with 13 weeks, 29.3 with 52, so 0.057 CPU-s per tile-date of history (each
#: tile is tracked again from its whole history when it has a new look) and nothing measurable
#: besides; the fixed part is the function's cold import of the detection stack (3.5 CPU-s,
#: measured for the old Finalize in issue 15).
TRACK_CPU_SECONDS_FIXED = 3.5
TRACK_CPU_SECONDS_PER_TILE_DATE = 0.057
#: The merge of one results partition after a scan (``asm_watch_functions.compact_results``):
#: its cold import, 1.4-1.6 CPU-s and 142 MB measured here, and the core merge's 8 ms a file
#: (``python tests/bench/athena_layout.py``: 335 s for 41,400 files).
COMPACT_CPU_SECONDS_FIXED = 1.6
COMPACT_CPU_SECONDS_PER_FILE = 0.008
#: Results partitions (date and UTM zone) of one pass over Africa: its tiles lie in 16 UTM zones
#: (26-41, the islands included) and a weekly pass takes each tile's newest date, which falls
#: on any of the 5 days of Sentinel-2's revisit (an assumption: it depends on the orbits).
AFRICA_PARTITIONS = 16 * 5
#: Sentinel-2 tiles per site group over Africa: 100 km squares over its land per grid-zone
#: column (``python tests/bench/site_groups_africa.py``: 4,195 squares in 556 groups)
TILES_PER_SITE_GROUP = 7.54


@dataclass(frozen=True)
class CostModel:
    """Prices and machine figures behind the estimates."""

    #: the template's LambdaMemory: the real farmland tile peaks at 1,064 MB
    lambda_memory_mb: int = 2048
    lambda_architecture: str = "x86_64"
    lambda_request_usd: float = 0.20 / 1e6
    #: per full tile; the real-imagery figure (the larger) unless told otherwise
    cpu_seconds_per_tile: float = MEASURED_CPU_SECONDS["real_farmland"]
    #: the job's CPU-seconds per wall-second where cores are free (same bench: 1.00-1.05; its
    #: decoding threads wait on each other, and the objects are judged in one thread)
    job_parallelism: float = 1.0
    read_megabytes_per_second: float = 80.0
    #: tile-dates per child workflow (the template's TilesPerBatch), detected in parallel
    tiles_per_batch: int = 8
    sfn_transition_usd: float = 0.025 / 1000
    #: the parent workflow's own transitions: Plan, the three Maps, Finalize, Done and the end
    sfn_transitions_per_scan: int = 7
    express_request_usd: float = 1.00 / 1e6
    express_gb_second_usd: float = 0.00001667
    #: EXPRESS bills memory in 64 MB steps; a child's few kB of state round up to one
    express_memory_gb: float = 64 / 1024
    #: the bands' GETs are billed to sentinel-cogs' owner (a public, not requester-pays bucket)
    #: and carry no transfer charge within us-west-2; the results' PUTs are ours
    s3_put_usd: float = 0.005 / 1000
    #: detections, tile_runs, the class mask and the STAC item
    puts_per_tile: int = 4
    local_workers: int = 2
    #: the template's TrackSitesMemory (the bench's group peaks at 538 MB with a year of history)
    track_memory_mb: int = 1024
    #: weeks of history each tile of a group is tracked through
    history_weeks: int = 52
    track_cpu_seconds_fixed: float = TRACK_CPU_SECONDS_FIXED
    track_cpu_seconds_per_tile_date: float = TRACK_CPU_SECONDS_PER_TILE_DATE
    #: a STANDARD child per group: its task and its end
    track_transitions_per_group: int = 2
    #: three site tables, two history files, the outcome, the report, the lock
    puts_per_group: int = 8
    #: the partition merge's function (the template's 512 MB), its CPU, and the time of each
    #: S3 request it makes (not measurable here: an assumption, like the read speed)
    compact_memory_mb: int = 512
    compact_cpu_seconds_fixed: float = COMPACT_CPU_SECONDS_FIXED
    compact_cpu_seconds_per_file: float = COMPACT_CPU_SECONDS_PER_FILE
    s3_request_seconds: float = 0.02
    s3_get_usd: float = 0.0004 / 1000

    def __post_init__(self) -> None:
        if self.tiles_per_batch < 1:
            raise ValueError(f"tiles per batch must be at least 1, not {self.tiles_per_batch}")
        if self.lambda_architecture not in LAMBDA_GB_SECOND_USD:
            raise ValueError(
                f"Lambda architecture {self.lambda_architecture!r} is not one of "
                f"{', '.join(LAMBDA_GB_SECOND_USD)}"
            )

    @property
    def lambda_vcpus(self) -> float:
        return self.lambda_memory_mb / LAMBDA_MB_PER_VCPU


@dataclass(frozen=True)
class Estimate:
    """What a plan will cost before any pixel is read (each AWS line apart)."""

    tile_dates: int
    tiles: int
    items: int
    bytes_to_read: int
    cpu_seconds: float
    local_seconds: float
    lambda_seconds_per_tile: float
    lambda_gb_seconds: float
    lambda_usd: float
    lambda_requests_usd: float
    child_workflows: int
    transitions: int
    transitions_usd: float
    express_gb_seconds: float
    express_usd: float
    s3_usd: float
    site_groups: int = 0
    track_gb_seconds: float = 0.0
    #: the site update's Lambda time and requests (its transitions and PUTs are in theirs)
    track_usd: float = 0.0
    #: the results partitions merged after the scan, and the merge's Lambda time, requests
    #: and EXPRESS children (its transitions and S3 requests are in theirs)
    partitions: int = 0
    compact_gb_seconds: float = 0.0
    compact_usd: float = 0.0

    @property
    def step_functions_usd(self) -> float:
        return self.transitions_usd + self.express_usd

    @property
    def aws_usd(self) -> float:
        return (
            self.lambda_usd
            + self.lambda_requests_usd
            + self.step_functions_usd
            + self.s3_usd
            + self.track_usd
            + self.compact_usd
        )


def _coverage(item: StacItemDict, aoi: Polygon | MultiPolygon | None) -> float:
    geometry = item.get("geometry")
    if aoi is None or not geometry:
        return 1.0
    footprint = shape(geometry)
    if footprint.area == 0:
        return 1.0
    return min(1.0, float(footprint.intersection(aoi).area / footprint.area))


def full_tile_bytes(bands: set[str]) -> int:
    """Compressed bytes of ``bands`` over one full tile."""
    return sum(
        FULL_TILE_BYTES["scl"] if b == "scl" else FULL_TILE_BYTES[BAND_RESOLUTION_M[b]]
        for b in bands
        if b in BAND_RESOLUTION_M
    )


def estimate(
    items: list[StacItemDict],
    tiles: int,
    duplicates: int,
    aoi: Polygon | MultiPolygon | None,
    bands: set[str],
    model: CostModel | None = None,
    site_groups: int | None = None,
    partitions: int | None = None,
) -> Estimate:
    """The cost of running one job per item of ``items`` (one per tile-date), each reading the
    share of its tile under ``aoi``, then updating the sites of ``site_groups`` groups (the
    tiles' groups; Africa's share of tiles per group when not given) and merging the results
    partitions written (``partitions``; the items' dates and UTM zones when not given)."""
    m = model or CostModel()
    shares = [_coverage(item, aoi) for item in items]
    n = len(items)
    total_bytes = int(sum(s * full_tile_bytes(bands) for s in shares))
    cpu = sum(s * m.cpu_seconds_per_tile for s in shares)
    read_s = total_bytes / (m.read_megabytes_per_second * 1e6)
    # the job's speed is its CPU share: below one vCPU it waits for the CPU, above one it
    # gains only what its threads overlap
    lambda_s = cpu / min(m.lambda_vcpus, m.job_parallelism) + read_s
    gb_s = lambda_s * m.lambda_memory_mb / 1024.0
    per_tile_s = lambda_s / n if n else 0.0
    children = math.ceil(n / m.tiles_per_batch)
    # a child lasts about as long as its slowest tile (its tiles run at once)
    express_gb_s = children * per_tile_s * m.express_memory_gb
    groups = site_groups if site_groups is not None else math.ceil(tiles / TILES_PER_SITE_GROUP)
    track_cpu = groups * m.track_cpu_seconds_fixed + (
        tiles * m.history_weeks * m.track_cpu_seconds_per_tile_date
    )
    track_gb_s = (
        track_cpu / min(m.track_memory_mb / LAMBDA_MB_PER_VCPU, 1.0) * (m.track_memory_mb / 1024.0)
    )
    merge = _merge(m, n, partitions if partitions is not None else _partition_count(items))
    transitions = (
        children
        + groups * m.track_transitions_per_group
        + merge.children
        + (m.sfn_transitions_per_scan if n else 0)
    )
    return Estimate(
        tile_dates=n,
        tiles=tiles,
        items=n + duplicates,
        bytes_to_read=total_bytes,
        cpu_seconds=round(cpu, 1),
        local_seconds=round(cpu / max(1, min(m.local_workers, n)) + read_s, 1),  # a tile per worker
        lambda_seconds_per_tile=round(per_tile_s, 1),
        lambda_gb_seconds=round(gb_s, 1),
        lambda_usd=gb_s * LAMBDA_GB_SECOND_USD[m.lambda_architecture],
        lambda_requests_usd=n * m.lambda_request_usd,
        child_workflows=children,
        transitions=transitions,
        transitions_usd=transitions * m.sfn_transition_usd,
        express_gb_seconds=round(express_gb_s, 1),
        express_usd=children * m.express_request_usd + express_gb_s * m.express_gb_second_usd,
        s3_usd=(n * m.puts_per_tile + groups * m.puts_per_group) * m.s3_put_usd + merge.s3_usd,
        site_groups=groups,
        track_gb_seconds=round(track_gb_s, 1),
        track_usd=track_gb_s * LAMBDA_GB_SECOND_USD[m.lambda_architecture]
        + groups * m.lambda_request_usd,
        partitions=merge.children,
        compact_gb_seconds=round(merge.gb_seconds, 1),
        compact_usd=merge.usd,
    )


@dataclass(frozen=True)
class _Merge:
    children: int
    gb_seconds: float
    usd: float
    s3_usd: float


def _merge(m: CostModel, tile_dates: int, partitions: int) -> _Merge:
    """The partition merges after a scan: one EXPRESS child and function per partition, which
    reads and deletes both tables' files of each tile-date, reads and conditionally writes
    each table's merged file, and repoints each tile-date's STAC item (a GET and a PUT)."""
    if not tile_dates:
        return _Merge(0, 0.0, 0.0, 0.0)
    files = 2 * tile_dates
    requests = 2 * files + 4 * partitions + 2 * tile_dates
    cpu = partitions * m.compact_cpu_seconds_fixed + files * m.compact_cpu_seconds_per_file
    seconds = cpu / min(m.compact_memory_mb / LAMBDA_MB_PER_VCPU, 1.0)
    seconds += requests * m.s3_request_seconds
    gb_s = seconds * m.compact_memory_mb / 1024.0
    express = partitions * m.express_request_usd + seconds * m.express_memory_gb * (
        m.express_gb_second_usd
    )
    # PUTs (and LISTs, billed alike): two merged files, two listings a partition, the STAC
    # items; GETs: every file read; DELETEs are free
    puts = 4 * partitions + tile_dates
    gets = files + 2 * partitions + tile_dates
    return _Merge(
        children=partitions,
        gb_seconds=gb_s,
        usd=gb_s * LAMBDA_GB_SECOND_USD[m.lambda_architecture]
        + partitions * m.lambda_request_usd
        + express,
        s3_usd=puts * m.s3_put_usd + gets * m.s3_get_usd,
    )


def _partition_count(items: list[StacItemDict]) -> int:
    """The results partitions (date and UTM zone) the items' results go to."""
    seen = set()
    for item in items:
        properties = item.get("properties") or {}
        tile = mgrs_tile(properties, str(item.get("id", ""))) or str(item.get("id", ""))
        seen.add((str(properties.get("datetime", ""))[:10], tile[:2]))
    return len(seen)
