"""Reading and verifying a bundle directory (manifest, checksums). No TensorFlow."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lambdarec_contracts.bundle import MANIFEST_FILE, BundleManifest


class BundleError(Exception):
    """A bundle is incomplete, corrupt or incompatible (reported without a stack trace)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(bundle_dir: Path) -> BundleManifest:
    path = bundle_dir / MANIFEST_FILE
    if not path.exists():
        raise BundleError(f"{bundle_dir} has no {MANIFEST_FILE}")
    try:
        return BundleManifest.model_validate_json(path.read_text())
    except Exception as exc:
        raise BundleError(f"invalid manifest {path}: {exc}") from exc


def verify_bundle(bundle_dir: Path) -> BundleManifest:
    """Check every file listed in the manifest's checksums exists and matches; return the manifest."""
    manifest = read_manifest(bundle_dir)
    if not manifest.file_checksums:
        raise BundleError(f"{bundle_dir}: manifest lists no file checksums")
    for name, digest in manifest.file_checksums.items():
        f = bundle_dir / name
        if not f.is_file():
            raise BundleError(f"{bundle_dir}: missing file {name}")
        actual = sha256_of(f)
        if actual != digest:
            raise BundleError(f"{bundle_dir}: checksum mismatch for {name} ({actual[:12]} != {digest[:12]})")
    return manifest
