"""Third-party browser assets the offline site bundles: mermaid.js, fetched with `npm pack`.

Material loads mermaid from a CDN unless `mermaid` is already defined; agents' machines have no
internet, so the site ships its own copy. The file lives under var/vendor (never committed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

MERMAID_SPEC = "mermaid@11"
MERMAID_MEMBER = "package/dist/mermaid.min.js"


class VendorError(Exception):
    """The asset could not be fetched; the message says why and what to do."""


@dataclass(frozen=True)
class VendoredAsset:
    path: Path
    version: str

    def to_dict(self) -> dict:
        return {"path": str(self.path), "version": self.version}


def mermaid_path(vendor_dir: Path) -> Path:
    return Path(vendor_dir) / "mermaid" / "mermaid.min.js"


def find_mermaid(vendor_dir: Path) -> VendoredAsset | None:
    path = mermaid_path(vendor_dir)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    version_file = path.with_name("VERSION")
    version = version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else "unknown"
    return VendoredAsset(path, version)


def vendor_mermaid(vendor_dir: Path, *, npm: str | None = None, timeout: float = 300) -> VendoredAsset:
    """`npm pack mermaid@11` into vendor_dir, then keep only dist/mermaid.min.js (atomically)."""
    npm = npm or "npm"
    if shutil.which(npm) is None:
        raise VendorError(f"`{npm}` was not found: install Node.js and npm, then run `kb vendor-assets`")
    vendor_dir = Path(vendor_dir).resolve()
    vendor_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=vendor_dir) as work:
        try:
            result = subprocess.run(
                [npm, "pack", MERMAID_SPEC, "--silent", "--pack-destination", work],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise VendorError(f"npm pack {MERMAID_SPEC} failed: {error}") from None
        archives = sorted(Path(work).glob("*.tgz"))
        if result.returncode != 0 or not archives:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no archive written"]
            raise VendorError(f"npm pack {MERMAID_SPEC} failed: {detail[0]}")
        with tarfile.open(archives[0], "r:gz") as archive:
            try:
                script = archive.extractfile(MERMAID_MEMBER)
                package = archive.extractfile("package/package.json")
            except KeyError:
                raise VendorError(f"{archives[0].name} has no {MERMAID_MEMBER}") from None
            data = script.read() if script else b""
            version = json.load(package).get("version", "unknown") if package else "unknown"
        if not data:
            raise VendorError(f"{archives[0].name}: {MERMAID_MEMBER} is empty")
        target = mermaid_path(vendor_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(work) / "mermaid.min.js"
        staged.write_bytes(data)
        os.replace(staged, target)
        target.with_name("VERSION").write_text(version + "\n", encoding="utf-8")
    return VendoredAsset(target, version)


def ensure_mermaid(
    vendor_dir: Path, *, fetch: bool = True, npm: str | None = None
) -> tuple[VendoredAsset | None, str | None]:
    """The vendored mermaid.js, fetching it once when allowed. Returns (asset, warning)."""
    found = find_mermaid(vendor_dir)
    if found is not None:
        return found, None
    if not fetch:
        return None, f"mermaid.js is not in {vendor_dir} (run `kb vendor-assets`); diagrams show their source instead"
    try:
        return vendor_mermaid(vendor_dir, npm=npm), None
    except VendorError as error:
        return None, f"{error}; diagrams show their source instead"
