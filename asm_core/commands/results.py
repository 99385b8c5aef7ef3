"""``asm query``, ``asm export`` and ``asm report``: the results for people and tools."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from asm_core.commands.options import day_option, results_option
from asm_core.errors import QueryError
from asm_core.report.report_html import write_report
from asm_core.report.report_text import (
    format_result,
)
from asm_core.results.export import (
    EXPORT_FORMATS,
    EXPORT_TABLES,
    export_format,
    read_results,
    write_export,
)
from asm_core.results.sql import bind, parse_query, read_query_file, run_query
from asm_core.sources.aoi import parse_bbox


@click.command()
@click.argument("sql", required=False)
@click.option("--file", "query_file", type=click.Path(path_type=Path), help="A .sql file to run.")
@click.option(
    "--results", "results", required=True, type=click.Path(path_type=Path), help="Results folder."
)
@click.option("--param", "params", multiple=True, help="name=value for a declared parameter.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def query(
    sql: str | None, query_file: Path | None, results: Path, params: tuple[str, ...], fmt: str
) -> None:
    """Run Athena-dialect SQL (e.g. infra/athena/queries/*.sql) over a local results folder."""
    if (sql is None) == (query_file is None):
        raise QueryError("give the SQL as an argument or --file FILE, not both or neither")
    if not results.is_dir():
        raise QueryError(f"results folder {str(results)!r} does not exist")
    parsed = read_query_file(query_file) if query_file else parse_query(sql or "", Path("query"))
    given = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise QueryError(f"--param {item!r} is not name=value")
        given[name] = value
    answer = run_query(parsed.sql, results, bind(parsed, given))
    click.echo(format_result(answer, fmt))


@click.command("export")
@results_option
@click.option(
    "--table", "table", type=click.Choice(EXPORT_TABLES), default="sites", show_default=True
)
@day_option("--since", "since_day", "First day (YYYY-MM-DD).")
@day_option("--until", "until_day", "Last day (YYYY-MM-DD).")
@click.option("--bbox", default=None, help="Only what touches W,S,E,N (degrees).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS)),
    default=None,
    help="File format (default: from the suffix of --out).",
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export_cmd(
    results: Path,
    table: str,
    since_day: datetime | None,
    until_day: datetime | None,
    bbox: str | None,
    fmt: str | None,
    out: Path,
) -> None:
    """Export sites, detections or alerts for GIS tools: GeoPackage, FlatGeobuf, GeoJSON, CSV."""
    chosen = export_format(out, fmt)
    frame = read_results(
        results,
        table,
        since_day.date() if since_day else None,
        until_day.date() if until_day else None,
        parse_bbox(bbox) if bbox is not None else None,
    )
    write_export(frame, out, chosen, table)
    click.echo(f"{len(frame)} {table} written to {out} ({EXPORT_FORMATS[chosen]})")


@click.command()
@results_option
@click.option(
    "--out",
    "out",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file (default: report.html beside the results folder).",
)
@click.option(
    "--quicklooks",
    "quicklooks",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of quicklook PNGs to overlay (default: quicklooks/ beside the results).",
)
def report(results: Path, out: Path | None, quicklooks: Path | None) -> None:
    """Write one self-contained HTML report (map, trends, top sites) that opens offline."""
    out = out or results.parent / "report.html"
    summary = write_report(results, out, quicklooks or results.parent / "quicklooks")
    click.echo(
        f"report: {summary.path} ({summary.detections} detections, {summary.sites} sites, "
        f"{summary.quicklooks} quicklooks)"
    )
