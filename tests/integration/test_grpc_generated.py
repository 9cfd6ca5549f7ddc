"""The checked-in gRPC code is what the protos generate today (run `make protos` if not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "services" / "_generated"


def contents(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "generated"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_protos.py"), "--out", str(fresh)],
        check=True,
        capture_output=True,
    )
    expected, found = contents(fresh), contents(CHECKED_IN)
    assert sorted(found) == sorted(expected), "run `make protos`: files differ"
    stale = [name for name in expected if found[name] != expected[name]]
    assert not stale, f"run `make protos`: stale generated files {stale}"


def test_every_proto_has_its_generated_module_and_stub() -> None:
    protos = sorted((ROOT / "protos").rglob("*.proto"))
    assert protos
    for proto in protos:
        module = CHECKED_IN / proto.relative_to(ROOT / "protos").with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert Path(f"{module}{suffix}").is_file(), f"{module}{suffix} is missing"
