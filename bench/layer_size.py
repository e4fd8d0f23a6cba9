"""Scenario 7, layer size: the shared layer unzipped, against the ≤ 130 MB target.

Lambda counts function code plus layers unzipped against 250 MB, and pyarrow alone is ~170 MB,
so the layer's build step prunes what the functions never load (layers/shared/Makefile).

Full run: ``sam build`` of the layer for arm64 (the template's default, what the target is about)
and for x86_64 into a temporary folder, then the size with a per-package breakdown. Smoke run
(``run(smoke=True)``): no build; measures ``.aws-sam/build/SharedLayer`` if ``make build`` left
one, else reports "skipped". MB here is 2**20 bytes, as Lambda counts its quota.

    python bench/layer_size.py [--arch arm64|x86_64] [--layer-dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
EXISTING_LAYER = REPO_ROOT / ".aws-sam" / "build" / "SharedLayer"
SCENARIO = "layer size"
TARGET_MB = 130.0
LAMBDA_LIMIT_MB = 250.0
MB = 1 << 20
# Entries smaller than this are summed into one "other" line of the breakdown.
BREAKDOWN_MIN_MB = 1.0


def sam_executable() -> str:
    """The SAM CLI of this virtualenv (a dev dependency), else the one on PATH."""
    beside = Path(sys.executable).with_name("sam")
    found = str(beside) if beside.exists() else shutil.which("sam")
    if not found:
        raise RuntimeError("sam CLI not found: run `make install`")
    return found


def host_architecture() -> str:
    """The template's name for this machine's architecture."""
    return "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"


def build_layer(
    build_dir: Path,
    arch: str = "arm64",
    *,
    resources: tuple[str, ...] = ("SharedLayer",),
    layer_arch_env: bool = True,
) -> Path:
    """``sam build`` (no Docker) of ``resources`` for ``arch`` into ``build_dir``; returns the layer dir.

    Pass ``resources=()`` to build the whole application; ``layer_arch_env=False`` leaves LAYER_ARCH
    unset, so the layer's Makefile must find the architecture in SAM's build graph (whole builds).
    """
    env = {k: v for k, v in os.environ.items() if k != "LAYER_ARCH"}
    env.update(SAM_CLI_TELEMETRY="0", **({"LAYER_ARCH": arch} if layer_arch_env else {}))
    command = [
        sam_executable(), "build", *resources,
        "--template-file", str(REPO_ROOT / "template.yaml"),
        "--build-dir", str(build_dir),
        "--cache-dir", str(build_dir.parent / f"{build_dir.name}-cache"),
        "--parameter-overrides", f"Architecture={arch}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        raise RuntimeError(f"sam build failed ({result.returncode}):\n{output}")
    return build_dir / "SharedLayer"


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (what the unzipped layer occupies, without symlinks)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def layer_architecture(layer_dir: Path) -> str:
    """Architecture the layer was built for, from pyarrow's extension module name."""
    names = [p.name for p in (layer_dir / "python" / "pyarrow").glob("lib.cpython-*.so")]
    if any("aarch64" in name for name in names):
        return "arm64"
    if any("x86_64" in name for name in names):
        return "x86_64"
    return "unknown"


def breakdown(layer_dir: Path) -> list[tuple[str, float]]:
    """(top-level package, MB) largest first; dist-info folders and small entries are grouped."""
    sizes: dict[str, int] = {}
    root = layer_dir / "python"
    for entry in root.iterdir() if root.is_dir() else ():
        name = "*.dist-info" if entry.name.endswith(".dist-info") else entry.name
        sizes[name] = sizes.get(name, 0) + tree_bytes(entry)
    rows: list[tuple[str, float]] = []
    other = 0
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        if size / MB >= BREAKDOWN_MIN_MB:
            rows.append((name, size / MB))
        else:
            other += size
    if other:
        rows.append(("other", other / MB))
    return rows


def measure(layer_dir: Path) -> dict[str, Any]:
    return {
        "arch": layer_architecture(layer_dir),
        "total_mb": tree_bytes(layer_dir) / MB,
        "breakdown": breakdown(layer_dir),
    }


def _row(case: str, value: float | None, note: str = "") -> dict[str, Any]:
    return {"scenario": SCENARIO, "case": case, "value": value, "unit": "MB", "note": note}


def _rows(measured: dict[str, Any], note: str) -> list[dict[str, Any]]:
    arch = measured["arch"]
    rows = [_row(f"layer unzipped ({arch})", round(measured["total_mb"], 1), note)]
    rows += [_row(f"  {arch}: {name}", round(size, 1)) for name, size in measured["breakdown"]]
    return rows


def _target(measured: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    target = {"scenario": SCENARIO, "target": f"≤ {TARGET_MB:.0f} MB"}
    if measured is None:
        return {**target, "measured": "skipped", "met": None, "note": note}
    total = measured["total_mb"]
    limit = f"{measured['arch']}; Lambda's limit for function + layers is {LAMBDA_LIMIT_MB:.0f} MB"
    return {**target, "measured": f"{total:.1f} MB", "met": total <= TARGET_MB, "note": note or limit}


def run(smoke: bool) -> dict[str, Any]:
    """Rows and targets for the benchmark runner (``python -m bench``)."""
    if smoke:
        if not (EXISTING_LAYER / "python").is_dir():
            note = "skipped: no .aws-sam/build/SharedLayer (run `make build`)"
            return {"rows": [_row("layer unzipped", None, note)], "targets": [_target(None, note)]}
        measured = measure(EXISTING_LAYER)
        return {"rows": _rows(measured, "existing .aws-sam/build"), "targets": [_target(measured)]}

    rows: list[dict[str, Any]] = []
    by_arch: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="layer-size-") as tmp:
        for arch in ("arm64", "x86_64"):
            measured = measure(build_layer(Path(tmp) / arch, arch))
            by_arch[arch] = measured
            rows.extend(_rows(measured, "fresh sam build"))
    # The target is about what deploys by default (arm64); x86_64 is reported for comparison.
    return {"rows": rows, "targets": [_target(by_arch["arm64"])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--arch", choices=["arm64", "x86_64"], default="arm64", help="architecture to build")
    parser.add_argument("--layer-dir", type=Path, help="measure this built layer instead of building one")
    parser.add_argument("--smoke", action="store_true", help="no build: measure .aws-sam/build if present")
    args = parser.parse_args(argv)
    if args.smoke:
        result = run(smoke=True)
        measured_rows = result["rows"]
    else:
        if args.layer_dir:
            measured = measure(args.layer_dir)
        else:
            with tempfile.TemporaryDirectory(prefix="layer-size-") as tmp:
                measured = measure(build_layer(Path(tmp) / args.arch, args.arch))
        measured_rows = _rows(measured, "")
        result = {"rows": measured_rows, "targets": [_target(measured)]}
    for row in measured_rows:
        value = "skipped" if row["value"] is None else f"{row['value']:8.1f} MB"
        print(f"{row['case']:<40} {value}  {row['note']}".rstrip())
    for target in result["targets"]:
        status = {True: "met", False: "MISSED"}.get(target["met"], "pending")
        print(f"target {target['target']}: {target['measured']} ({status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
