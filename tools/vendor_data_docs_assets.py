#!/usr/bin/env python3
"""Re-create the vendored Data Docs assets from the npm registry.

    .venv/bin/python tools/vendor_data_docs_assets.py

For every package version in `mlmonitor.docs_site.VENDORED_ASSETS` it runs `npm pack <package>@<version>`,
and copies into include/mlmonitor_airflow/static/vendor/<package>/<version>/ the files the Data Docs pages
reference, the fonts/images their CSS references (relative `url(...)`) and the package's LICENSE files,
then writes vendor/MANIFEST.txt (tarball integrity and files). Needs npm; CI does not: the output is
committed. Run it after a Great Expectations upgrade changes the CDN URLs in its page templates.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

from mlmonitor.ui.docs_site import VENDORED_ASSETS  # noqa: E402

VENDOR = ROOT / "include" / "mlmonitor_airflow" / "static" / "vendor"
CSS_URL = re.compile(r"""url\(\s*["']?([^)"'?#]+)[^)]*\)""")


def pack(package: str, version: str, into: Path) -> tuple[Path, dict[str, str]]:
    """The unpacked npm tarball of package@version and npm's metadata of it."""
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    )
    meta = json.loads(out.stdout)[0]
    unpacked = into / f"{meta['name'].replace('/', '+')}-{version}"
    with tarfile.open(into / meta["filename"]) as tar:
        tar.extractall(unpacked, filter="data")
    return unpacked / "package", meta


def needed_files(package_dir: Path, files: list[str]) -> list[str]:
    """`files`, what their CSS loads by relative URL, and the LICENSE files."""
    wanted = list(files)
    for name in files:
        if name.endswith(".css"):
            css = (package_dir / name).read_text(encoding="utf-8")
            for ref in CSS_URL.findall(css):
                if ref.startswith(("data:", "http:", "https:", "//", "/")):
                    continue
                target = (package_dir / name).parent.joinpath(ref).resolve()
                if not target.is_file():
                    sys.exit(f"{name} references {ref}, which is not in the package")
                wanted.append(str(target.relative_to(package_dir.resolve())))
    # package.json records the license where the tarball has no LICENSE file (popper.js 1.12.9, vega 5.33.1)
    wanted += [
        p.name for p in package_dir.iterdir() if p.is_file() and re.match(r"(?i)(licen[cs]e|package\.json$)", p.name)
    ]
    return sorted(set(wanted))


def main() -> None:
    versions: dict[tuple[str, str], list[str]] = {}
    for asset in VENDORED_ASSETS:
        versions.setdefault((asset.package, asset.version), []).append(asset.file)
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    lines = ["# Data Docs assets vendored from the npm registry by tools/vendor_data_docs_assets.py", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for (package, version), files in versions.items():
            package_dir, meta = pack(package, version, Path(tmp))
            lines.append(f"{package}@{version} {meta['integrity']}")
            for name in needed_files(package_dir, files):
                target = VENDOR / package / version / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(package_dir / name, target)
                lines.append(f"  {name}")
            print(f"vendored {package}@{version}")
    (VENDOR / "MANIFEST.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
