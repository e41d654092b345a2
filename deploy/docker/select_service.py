"""Keeps one service in a source tree: its wheel holds the chassis and that service only.

Run by the Dockerfile's builder stage (and by tests/deploy) before ``pip wheel``:
``python select_service.py <service> <source root>``. It removes every other service's
package and the local runner (it launches embedded engines that images never carry), and
the web pages from every image but the gateway's.
``loadgenerator`` is the image of ``mercato load`` (the Kubernetes loadgenerator
component): no service at all, the runner's state and display modules the command reads
(no engine: the ``local`` extra is never installed), and the ``load`` extra (Locust);
``python select_service.py --extras <service>`` prints the extras an image installs.
Only the standard library is used: the builder has nothing else yet.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

# The local runner launches embedded engines that images never carry.
NOT_IN_IMAGES = ("runner",)
# The storefront's and the admin console's files are served by the gateway alone.
GATEWAY_ONLY = ("web",)
LOAD_GENERATOR = "loadgenerator"
# Extras of the project each image installs, as pip writes them after a name.
EXTRAS = {LOAD_GENERATOR: "[load]"}


def service_names(package: Path) -> list[str]:
    """The catalog's service names, read from the tree being built."""
    spec = importlib.util.spec_from_file_location("_mercato_catalog", package / "catalog.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no catalog at {package / 'catalog.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return list(module.SERVICES)


def select(service: str, root: Path) -> list[str]:
    """Removes what the image of ``service`` must not hold; returns what was removed."""
    package = root / "src" / "mercato"
    known = [*service_names(package), LOAD_GENERATOR]
    if service not in known:
        raise SystemExit(f"unknown service {service!r}; the catalog knows {', '.join(known)}")
    removed = []
    for candidate in sorted((package / "services").iterdir()):
        if candidate.is_dir() and candidate.name not in (service, "__pycache__"):
            shutil.rmtree(candidate)
            removed.append(f"services/{candidate.name}")
    # `mercato load` reads the runner's state file and console (they import no engine).
    dropped = () if service == LOAD_GENERATOR else NOT_IN_IMAGES
    for name in dropped + (GATEWAY_ONLY if service != "gateway" else ()):
        if (package / name).exists():
            shutil.rmtree(package / name)
            removed.append(name)
    return removed


def main() -> None:
    """Command-line entry."""
    if len(sys.argv) == 3 and sys.argv[1] == "--extras":
        print(EXTRAS.get(sys.argv[2], ""))
        return
    if len(sys.argv) != 3 or not sys.argv[1]:
        raise SystemExit(
            "usage: select_service.py <service> <source root> (set --build-arg SERVICE)"
        )
    for removed in select(sys.argv[1], Path(sys.argv[2])):
        print(f"removed mercato/{removed}")


if __name__ == "__main__":
    main()
