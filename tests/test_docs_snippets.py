"""The documentation's commands run as written.

The README's tour and every shell block of docs/getting-started.md run in one fresh bash (`set -euo
pipefail`, nothing of this session's environment) that sources an env file like the one `make dev`
writes, against the local gateway (real JWT, moto's S3 server over HTTP, embedded Postgres) and the
demo run; they write nothing into the checkout. The blocks that start the stack (`make dev`) are
covered by tests/test_local_stack.py. Deploy and benchmark commands, which need AWS or minutes, are
checked to exist (`make -n`, `--help`). The README stays short and every alarm has a runbook.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

BASH_RE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
ENV_FILE = "source .local/dev/env"
VENV_BIN = Path(sys.executable).parent


def shell_blocks(relative: str) -> list[str]:
    return BASH_RE.findall((REPO_ROOT / relative).read_text(encoding="utf-8"))


def runnable_blocks(relative: str) -> list[str]:
    # A block that starts with `make` sets the stack up (make dev, make test): not run here.
    return [block for block in shell_blocks(relative) if not block.lstrip().startswith("make ")]


@pytest.fixture(scope="module")
def env_file(base_env: dict[str, str], gateway_url: str, make_token: Any, tmp_path_factory: Any) -> Path:
    """What `make dev` writes to .local/dev/env, for this session's stack, after seeding the demo run."""
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.dev import render_env_file, stack_variables
    from etl_artifacts_local.seed import demo_run_id, seed_run
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID

    date = dt.date(2026, 11, 20)
    seed_run(RunRef(DEMO_COMPANY, DEMO_DAG_ID, date, demo_run_id(date)))
    path = tmp_path_factory.mktemp("docs") / "env"
    text = render_env_file(stack_variables(), api_url=f"{gateway_url}/api/v1", token=make_token(DEMO_COMPANY))
    path.write_text(text, encoding="utf-8")
    return path


def untracked_and_changed() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def run_blocks(blocks: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(blocks)
    assert ENV_FILE in script, "the blocks no longer start from the env file"
    script = script.replace(ENV_FILE, f"source {shlex.quote(str(env_file))}")
    # Only what a new terminal has: none of this test session's variables.
    clean = {"PATH": f"/usr/local/bin:/usr/bin:/bin:{VENV_BIN.parent / 'bin'}", "LANG": "C.UTF-8"}
    before = untracked_and_changed()
    proc = subprocess.run(
        ["bash", "-c", script], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    assert untracked_and_changed() == before, "the documented commands wrote into the checkout"
    return proc


def test_readme_tour_runs(env_file):
    (tour,) = [block for block in runnable_blocks("README.md") if ENV_FILE in block]
    assert len(tour.strip().splitlines()) <= 10

    out = run_blocks([tour], env_file).stdout

    assert '"id_company":"acme"' in out
    assert '"run_id":"manual__2026-11-20T10:15:30.123456+00:00"' in out
    assert re.search(r"order_id,customer,", out)  # the CSV page's header row
    assert '"artifacts":[' in out


def test_getting_started_runs_as_written(env_file):
    out = run_blocks(runnable_blocks("docs/getting-started.md"), env_file).stdout

    assert '"id_company":"acme"' in out
    assert re.search(r"X-Search-Mode: (scan|index|trigram)", out, re.I)
    assert '"code":"run_not_found"' in out  # another tenant's token
    assert '"statusCode": 200' in out  # invoke RunsFunction
    assert '"isAuthorized": true' in out  # the authorizer with a fresh token
    assert "customer: string" in out and "order_id: int64" in out  # the Arrow stream's schema
    assert "metadata.parquet" in out  # the downloaded run, listed


def test_walkthrough_exports_what_python_reads():
    # The Python snippets read os.environ["API"], ["TOKEN"], ["DAG"]: each must reach a child process.
    text = (REPO_ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for name in re.findall(r'os\.environ\["(\w+)"\]', text):
        exported = re.search(rf"^export {name}=", text, re.M) or name in ("API", "TOKEN")  # the env file's
        assert exported, f"{name} is read by a Python snippet but never exported"


@pytest.mark.parametrize("relative", ["docs/operations.md", "bench/README.md"])
def test_deploy_and_bench_commands_exist(relative):
    lines = [
        line.split("#")[0].strip()
        for block in shell_blocks(relative)
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines
    for line in lines:
        words = shlex.split(line)
        if words[0] == "make":
            command = ["make", "-n", *words[1:]]
        else:  # .venv/bin/<tool> ...: the tool and its subcommand exist
            command = [*words[: 3 if words[1] == "-m" else 2], "--help"]
        proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{line}: {proc.stderr[-1000:]}"


def test_readme_is_short_and_links_the_docs():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")

    assert len(text.splitlines()) <= 200
    for doc in ("getting-started", "api", "client", "operations", "security", "limits", "architecture"):
        assert f"(docs/{doc}.md" in text, doc
    assert "(bench/README.md)" in text


def test_every_alarm_has_a_runbook():
    from etl_artifacts_local.template import load_template

    alarms = [
        name
        for name, resource in load_template().raw["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    runbooks = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")

    assert alarms
    for alarm in alarms:
        assert re.search(rf"^### {alarm}$", runbooks, re.M), f"no runbook for {alarm} in docs/operations.md"


@pytest.mark.parametrize(
    "relative",
    [
        "README.md",
        "docs/getting-started.md",
        "docs/operations.md",
        "docs/security.md",
        "docs/limits.md",
        "docs/architecture.md",
        "docs/api.md",
        "bench/README.md",
    ],
)
def test_docs_stand_alone(relative):
    # Readers have the repository only: no outside specification or tracker numbers to look up.
    text = (REPO_ROOT / relative).read_text(encoding="utf-8")

    # (The outside specification's name is split so that this file passes the same rule.)
    assert "CON" + "TRACT" not in text and "§" not in text.replace("RFC 7519 §", "")
    assert not re.search(r"\bissues? \d+|issue\d+", text, re.I)
