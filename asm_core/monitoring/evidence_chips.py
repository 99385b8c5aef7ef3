"""Before/after evidence with every alert: a small JPEG cut from the looks' COGs around it.

A chip has four panels: true colour (red, green, blue) and a false colour that sets bare soil
and water apart (SWIR 2.2 µm, NIR, red: bare ground pink to brown, vegetation green, water
near black), for the last earlier look on which the place was clear (failing that, the one
that saw most of it, its clear share written on it) and for the alert's own look, with the
dates above and the site's (or reach's) outline drawn on each. A panel is one windowed,
decimated read per band (GDAL reads the COG overview nearest the panel's pixel size): a chip
costs a few range requests per band, not a tile.

Chips sit in ``chips/`` beside ``alerts.geojson`` (locally, and under the scan in S3); each
alert names its chip (``chip``, relative to the alerts file) and the two dates
(``chip_before``, ``chip_after``); the JPEG's comment says the same. An alert whose looks
cannot be read keeps a one-line ``chip_error`` instead.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import shapely
from PIL import Image, ImageDraw, ImageFont
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import transform_geom
from rasterio.windows import from_bounds
from shapely.geometry import mapping, shape

from asm_core.detection.objects.observed import ClearShare
from asm_core.detection.objects.vectorize import WGS84
from asm_core.monitoring.alerts import AlertFeature
from asm_core.report.quicklook import display_rgb
from asm_core.results.rows import TileRunRow
from asm_core.results.schema import RunStatus
from asm_core.results.store import write_bytes_atomic
from asm_core.sources.remote_reads import gdal_path

CHIPS_FOLDER = "chips"
PANEL_PX = 192
HEADER_PX = 14
#: The window around a site: the site's own size again on every side, at least this wide.
MIN_SIDE_M = 600.0
MAX_BYTES = 60_000
JPEG_QUALITIES = (85, 75, 65, 55, 45)
#: Sentinel-2 L2A digital numbers per unit reflectance (the product's QUANTIFICATION_VALUE).
L2A_QUANTIFICATION = 10_000.0
TRUE_COLOUR = ("red", "green", "blue")
#: The false colour, from the first triple the item has: SWIR2-NIR-red, SWIR1-NIR-red, CIR.
FALSE_COLOURS = (("swir22", "nir", "red"), ("swir16", "nir", "red"), ("nir", "red", "green"))
#: Reflectance shown as white: true colour as in the quicklooks; SWIR and NIR are brighter.
WHITE = {"true": 0.25, "false": 0.5}
OUTLINE = (255, 230, 0)


@dataclass(frozen=True)
class Look:
    """A tile-date whose bands can be read: from its tile_runs row."""

    item_id: str
    acquired: datetime
    hrefs: Mapping[str, str]
    dn_offset: float

    @classmethod
    def from_run(cls, run: TileRunRow | None) -> Look | None:
        if run is None:
            return None
        hrefs = dict(run.get("band_hrefs") or [])
        acquired = run.get("acquired")
        if run.get("status") != RunStatus.OK or not hrefs or acquired is None:
            return None
        return cls(str(run["item_id"]), acquired, hrefs, float(run.get("boa_offset_dn") or 0))


def _read_panel(
    look: Look, names: tuple[str, ...], footprint: shapely.Geometry
) -> tuple[npt.NDArray[np.float32], tuple[float, float, float, float], shapely.Geometry]:
    """Reflectance (PANEL_PX² x 3) of ``names`` around a footprint, the window's bounds in the
    bands' CRS and the footprint in that CRS (reprojected once, to the dataset's own CRS)."""
    channels: list[npt.NDArray[np.float32]] = []
    bounds, local = (0.0, 0.0, 0.0, 0.0), footprint
    for name in names:
        with rasterio.open(gdal_path(look.hrefs[name])) as src:
            if not channels:
                local = shape(transform_geom(WGS84, src.crs, mapping(footprint)))
                bounds = _window_bounds(local)
            dn = src.read(
                1,
                window=from_bounds(*bounds, transform=src.transform),
                out_shape=(PANEL_PX, PANEL_PX),
                boundless=True,
                fill_value=0,
                resampling=Resampling.average,
            ).astype(np.float32)
        reflectance = np.where(dn > 0, (dn - look.dn_offset) / L2A_QUANTIFICATION, 0.0)
        channels.append(reflectance.astype(np.float32))
    return np.stack(channels, axis=-1), bounds, local


def _window_bounds(local: shapely.Geometry) -> tuple[float, float, float, float]:
    """A square around the footprint: its own size again on every side, MIN_SIDE_M at least."""
    x0, y0, x1, y1 = local.bounds
    side = max(MIN_SIDE_M, 3 * max(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def _false_colour(look: Look) -> tuple[str, ...]:
    return next((t for t in FALSE_COLOURS if all(n in look.hrefs for n in t)), TRUE_COLOUR)


def _panel_image(
    look: Look | None, names: tuple[str, ...], white: float, footprint: shapely.Geometry
) -> Image.Image:
    if look is None or not all(n in look.hrefs for n in names):
        image = Image.new("RGB", (PANEL_PX, PANEL_PX), (90, 90, 90))
        ImageDraw.Draw(image).text((8, PANEL_PX // 2 - 6), "no earlier clear look", fill="white")
        return image
    rgb, (left, bottom, right, top), local = _read_panel(look, names, footprint)
    image = Image.fromarray(display_rgb(rgb, white), mode="RGB")
    draw = ImageDraw.Draw(image)
    scale_x, scale_y = PANEL_PX / (right - left), PANEL_PX / (top - bottom)
    for polygon in getattr(local, "geoms", [local]):
        if not isinstance(polygon, shapely.Polygon):
            continue
        ring = shapely.get_coordinates(polygon.exterior)
        points = [((x - left) * scale_x, (top - y) * scale_y) for x, y in ring.tolist()]
        if len(points) >= 2:
            draw.line(points, fill=OUTLINE, width=1)
    return image


def chip_jpeg(
    footprint: shapely.Geometry,
    before: Look | None,
    after: Look,
    caption: str,
    before_clear: float = 1.0,
) -> bytes:
    """The four-panel chip as JPEG bytes, at most MAX_BYTES (the quality steps down until it
    fits); ``caption`` goes into the JPEG comment; a before look that saw less than all of the
    place says how much it saw."""
    sheet = Image.new("RGB", (2 * PANEL_PX + 2, 2 * (PANEL_PX + HEADER_PX)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for col, look in enumerate((before, after)):
        x = col * (PANEL_PX + 2)
        when = f"{look.acquired:%Y-%m-%d}" if look is not None else "-"
        label = ("before " if col == 0 else "after ") + when
        if col == 0 and look is not None and before_clear < 0.995:
            label += f" ({before_clear:.0%} clear)"
        rows = (
            ("true colour", TRUE_COLOUR, WHITE["true"]),
            ("SWIR-NIR-red", _false_colour(after), WHITE["false"]),
        )
        for row, (name, bands, white) in enumerate(rows):
            y = row * (PANEL_PX + HEADER_PX)
            draw.text((x + 4, y + 1), f"{label} · {name}", fill="black", font=font)
            sheet.paste(_panel_image(look, bands, white, footprint), (x, y + HEADER_PX))
    for quality in JPEG_QUALITIES:
        out = io.BytesIO()
        sheet.save(out, format="JPEG", quality=quality, optimize=True, comment=caption.encode())
        if out.tell() <= MAX_BYTES:
            break
    return out.getvalue()


def earlier_look(
    runs: Sequence[TileRunRow],
    footprint: shapely.Geometry,
    before: datetime,
    clear_share: ClearShare,
    min_clear_share: float,
) -> tuple[Look | None, float]:
    """The latest look of these tile-runs before ``before`` on which the footprint was clear
    (or, if none was, the earlier look that saw the most of it), with its clear share."""
    best: tuple[Look | None, float] = (None, 0.0)
    for run in sorted(runs, key=lambda r: r.get("acquired") or before, reverse=True):
        look = Look.from_run(run)
        if look is None or look.acquired >= before:
            continue
        share = clear_share(run, footprint)
        if share >= min_clear_share:
            return look, share
        if share > best[1]:
            best = (look, share)
    return best


def attach_chips(
    alerts: Sequence[AlertFeature],
    runs: Sequence[TileRunRow],
    folder: Path,
    clear_share: ClearShare,
    min_clear_share: float,
    gdal_options: Mapping[str, str | bool | int] | None = None,
) -> int:
    """Cut a chip for every alert into ``folder`` and name it in the alert's properties
    (``chip`` relative to the folder's parent, ``chip_before``, ``chip_after``); returns how
    many were written. An alert whose looks cannot be read gets ``chip_error`` instead."""
    by_item = {str(r["item_id"]): r for r in runs}
    by_tile: dict[str, list[TileRunRow]] = {}
    for run in runs:
        by_tile.setdefault(str(run.get("mgrs_tile")), []).append(run)

    def one(alert: AlertFeature) -> bool:
        props = alert["properties"]
        after = Look.from_run(by_item.get(str(props.get("item_id"))))
        if after is None:
            props["chip_error"] = f"look {props.get('item_id')!r} has no readable bands"
            return False
        footprint = shape(alert["geometry"])
        tile_runs = by_tile.get(str(props.get("mgrs_tile")), [])
        before, seen = earlier_look(
            tile_runs, footprint, after.acquired, clear_share, min_clear_share
        )
        subject = props.get("site_id") or props.get("detection_id") or "alert"
        name = f"{props['kind']}_{subject}_{after.acquired:%Y%m%d}.jpg"
        caption = (
            f"ASM Watch evidence: {props['kind']} {subject}; "
            f"before {before.acquired:%Y-%m-%d} {before.item_id} ({seen:.0%} clear); " if before
            else f"ASM Watch evidence: {props['kind']} {subject}; before none; "
        ) + f"after {after.acquired:%Y-%m-%d} {after.item_id}"  # fmt: skip
        try:
            with rasterio.Env(**(gdal_options or {})):
                jpeg = chip_jpeg(footprint, before, after, caption, seen)
        except (RasterioError, OSError, ValueError) as e:
            props["chip_error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            return False
        write_bytes_atomic(folder / name, jpeg)
        props["chip"] = f"{folder.name}/{name}"
        props["chip_before"] = None if before is None else f"{before.acquired:%Y-%m-%d}"
        props["chip_after"] = f"{after.acquired:%Y-%m-%d}"
        return True

    # one chip after the other: opening COGs in several threads of one process deadlocked
    # (GDAL's driver and cache mutexes against the GIL taken by rasterio's error handler, a
    # known lock-order inversion, rasterio#3611), hanging a scan for good; the tile job opens
    # its bands in one thread and only reads in several
    return sum(one(alert) for alert in alerts)
