"""Architecture helpers of the layer's Makefile (build machine side; not shipped in the layer).

``python3 layer_arch.py from-build-graph ARTIFACTS_DIR`` prints the architecture ``sam build``
recorded for SharedLayer in its build graph (``.aws-sam/build.toml``, two levels above
ARTIFACTS_DIR whether the build is cached or not); nothing when there is no single answer.

``python3 layer_arch.py check DIR ARCH`` fails unless every ELF file under DIR is for ARCH
(arm64 | x86_64): a layer can never ship another architecture's libraries silently.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def from_build_graph(artifacts_dir: str) -> str:
    graph = Path(artifacts_dir).parent.parent / "build.toml"
    if not artifacts_dir or not graph.is_file():
        return ""
    definitions = tomllib.loads(graph.read_text()).get("layer_build_definitions", {})
    found = {
        str(entry.get("architecture"))
        for entry in definitions.values()
        if entry.get("layer_name") == "SharedLayer" and entry.get("architecture")
    }
    return found.pop() if len(found) == 1 else ""


def elf_architecture(path: Path) -> str | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "other")


def check(directory: str, arch: str) -> int:
    wrong = []
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and not path.is_symlink() and (".so" in path.name or path.suffix == ""):
            found = elf_architecture(path)
            if found is not None and found != arch:
                wrong.append(f"{path.relative_to(directory)} ({found})")
    if wrong:
        print(f"layer built for {arch} holds other architectures' binaries:", *wrong[:20], sep="\n  ")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "from-build-graph":
        print(from_build_graph(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "check":
        return check(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
