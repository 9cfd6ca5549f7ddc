"""The base images the project's Dockerfile and compose.yaml name, or stand-ins under the same
names where no container registry can be reached (these machines reach PyPI and Debian's
package repositories only).

A stand-in starts from a minimal Debian bookworm root made with `debootstrap` and imported with
`docker import`, then adds Debian's packages (standin/*.Dockerfile): Python 3.11 for
`python:...-slim`, rabbitmq-server with its management plugin for `rabbitmq:...-management`.
Each trusts the host's CA bundle, copied in here, so that HTTPS through the host's proxy works
inside it; the project's own Dockerfile is built on it unchanged.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.e2e.compose.engine import apt_install, run

HERE = Path(__file__).parent / "standin"
DEBIAN_ROOT = "orderflow-standin/debian:bookworm"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def exists(image: str) -> bool:
    return run("docker", "image", "inspect", image, check=False).returncode == 0


def ensure(image: str, kind: str) -> str:
    """`image` present locally: already there, pulled, or a stand-in built under its name.
    Returns which of the three ("present", "pulled", "stand-in")."""
    if exists(image):
        return "present"
    if run("docker", "pull", image, timeout=600, check=False).returncode == 0:
        return "pulled"
    if not exists(DEBIAN_ROOT):
        import_debian_root()
    with tempfile.TemporaryDirectory(prefix="standin-") as context:
        for file in HERE.iterdir():
            shutil.copy(file, context)
        shutil.copy(HOST_CA_BUNDLE, Path(context) / "host-ca-bundle.crt")
        dockerfile = str(Path(context) / f"{kind}.Dockerfile")
        run("docker", "build", "--build-arg", f"BASE={DEBIAN_ROOT}", "-f", dockerfile,
            "-t", image, context, timeout=900)  # fmt: skip
    return "stand-in"


def import_debian_root() -> None:
    """debootstrap's minimal bookworm, from the mirror the host's apt uses, as an image."""
    if not shutil.which("debootstrap"):
        apt_install("debootstrap")
    with tempfile.TemporaryDirectory(prefix="bookworm-") as root:
        run("debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm", root,
            host_mirror(), timeout=900)  # fmt: skip
        with subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                ["docker", "import", "-", DEBIAN_ROOT],
                stdin=tar.stdout,
                capture_output=True,
                timeout=600,
                check=False,
            )
        if tar.returncode != 0 or imported.returncode != 0:
            raise RuntimeError(f"docker import of the Debian root failed: {imported.stderr!r}")


def host_mirror(sources: Iterable[Path] = ()) -> str:
    """The Debian mirror of the host's apt sources (one-line or deb822 format)."""
    for path in sources or apt_sources():
        text = path.read_text() if path.is_file() else ""
        for pattern in (r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", r"^URIs:\s*(\S+/debian)/?$"):
            found = re.search(pattern, text, re.MULTILINE)
            if found:
                return found.group(1)
    return DEFAULT_MIRROR


def apt_sources() -> list[Path]:
    return [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
