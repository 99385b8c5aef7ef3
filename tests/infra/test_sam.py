"""`sam validate --lint` on the template, with the SAM CLI from its own virtual environment
(.venv-sam, made by the README's test command: the SAM CLI pins older boto3 and click)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def test_sam_validates_and_lints_the_template() -> None:
    if not SAM.exists():
        pytest.skip("no .venv-sam: the README's test command installs the SAM CLI there")
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAM_CLI_TELEMETRY": "0",  # offline: nothing leaves this machine
    }
    done = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", "template.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr
