"""The HTML report: one file, nothing loaded from the network, every detection on the map."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from asm_core.cli import main
from asm_core.errors import ResultsError
from asm_core.report.report_html import build_report, write_report
from asm_core.results.store import read_table


class _Loads(HTMLParser):
    """Every URL the page would load: script/img/iframe src, link href, CSS url(...)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "srcset", "data", "poster"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]([^'\"]+)", data)


def network_loads(page: str) -> list[str]:
    parser = _Loads()
    parser.feed(page)
    return [u for u in parser.urls if re.match(r"^\s*(https?:)?//", u)]


def page_data(page: str) -> dict[str, Any]:
    raw = re.search(r'<script type="application/json" id="asm-data">(.*?)</script>', page, re.S)
    assert raw is not None
    return dict(json.loads(raw.group(1)))


@pytest.fixture(scope="module")
def results(tracked_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")  # a copy: the command writes report.html beside it
    shutil.copytree(tracked_results, out, dirs_exist_ok=True)
    return out


def test_the_page_loads_nothing_and_holds_every_detection_and_site(results: Path) -> None:
    page, summary = build_report(results / "results", results / "quicklooks")
    detections = read_table(results / "results", "detections").num_rows
    sites = read_table(results / "results", "sites").num_rows
    assert network_loads(page) == []
    assert not re.search(r"https?://[^\s\"']*(unpkg|jsdelivr|cdnjs)", page)
    data = page_data(page)
    assert len(data["detections"]["features"]) == detections == summary.detections
    assert len(data["sites"]["features"]) == sites == summary.sites
    assert f"{detections + sites} features ({detections} detections, {sites} sites)" in page
    assert len(data["quicklooks"]) == 2 and all(
        q["src"].startswith("data:image/jpeg;base64,") for q in data["quicklooks"]
    )
    assert "L.map(" in page and ".leaflet-container" in page  # Leaflet's code and CSS inlined
    assert page.count("<svg") >= 3  # trend, classes, states
    assert {row["site"] for row in data["table"]} <= {
        f["properties"]["id"] for f in data["sites"]["features"]
    }
    assert data["coverage"]["statuses"]["ok"] == 2


def test_the_checker_finds_what_a_page_would_load() -> None:
    page = (
        '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//x/y.css">'
        '<style>a { background: url("http://x/i.png") }</style><a href="https://leafletjs.com">L</a>'
    )
    assert network_loads(page) == ["https://cdn.example/x.js", "//x/y.css", "http://x/i.png"]


def test_large_results_are_simplified_and_say_so(results: Path, tmp_path: Path) -> None:
    summary = write_report(results / "results", tmp_path / "big.html", max_polygons=3)
    page = (tmp_path / "big.html").read_text()
    assert summary.simplified and page_data(page)["simplified"] is True
    assert "shapes simplified, centroids shown until zoomed in" in page


def test_the_command_writes_beside_the_results_and_refuses_an_empty_folder(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--results", str(results / "results")]) == 0
    assert (results / "report.html").is_file()
    assert "2 quicklooks" in capsys.readouterr().out
    with pytest.raises(ResultsError, match="has no tile_runs/"):
        build_report(tmp_path)
    assert main(["report", "--results", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()
