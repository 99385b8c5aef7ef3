"""Under CI=true a skipped test fails the run, unless the skip is one a machine may cause."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import sys
import pytest

def test_needs_a_tool():
    pytest.skip("rustac is not installed")

@pytest.mark.skipif(True, reason="/proc lists the workers on Linux")
def test_machine_dependent():
    pass

def test_runs():
    assert True
"""


@pytest.mark.parametrize(("ci", "failed", "skipped"), [("true", 1, 1), ("", 0, 2)])
def test_unexpected_skips_fail_only_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, failed: int, skipped: int
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=failed, skipped=skipped)
    if failed:
        result.stdout.fnmatch_lines(["*skipped under CI=true*rustac is not installed*"])
