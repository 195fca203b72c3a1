"""Quality gate and atomic publish of a candidate bundle.

    python -m training.publish --bundle DIR [--tolerance 0.02] [--keep 5] [--force]

1. Verify the candidate (every file in ``manifest.file_checksums`` present and matching).
2. Gate, on what is served: the training run replayed serving's pipeline over its evaluation
   users and recorded, next to most-popular, item-kNN and EASE on the same split,
   ``served_lift@10`` = served Recall@10 / the best of EASE and item-kNN. The candidate is
   refused (exit 1) when its served lists lose to its own most-popular baseline, or when its
   lift falls below the published bundle's recorded lift x (1 - tolerance). Lifts, not raw
   recalls, are compared: each is measured against strong baselines on its own run's split, so
   they compare across runs whose data differ (the published bundle cannot be re-evaluated on
   the candidate's split: its item-to-item matrices were refit on data that split holds out).
   A published bundle without a recorded lift (built before the served evaluation) only
   imposes the most-popular floor.
3. Copy into ``bundles/.<version>.tmp-<pid>``, verify the copy, rename it to
   ``bundles/<version>`` (atomic on one filesystem), then point ``current`` at it by creating
   a temporary symlink and ``os.replace``-ing it over ``current``: readers see the old or the
   new bundle, never a mix. A failure at any step leaves ``current`` untouched.
   With ``LAMBDAREC_VECTOR_BACKEND=redis``, before the flip: the bundle's item and text vectors
   go into Redis's query engine, one HNSW index per version (``lambdarec_contracts.vector_index``),
   fully indexed before ``current`` moves, so a server that loads the new bundle finds its index;
   after the flip every index but the new and the replaced version's is dropped (replicas still on
   the replaced bundle until their next poll keep answering from Redis). A server without the
   query engine fails the publish (exit 3) and leaves ``current`` untouched.
4. Every decision (published, refused, forced) is appended to ``models/gate_decisions.jsonl``
   (``lambdarec_contracts.bundle.GateRecord``), the history the console shows next to the bundles.
5. Keep the newest ``--keep`` bundles (``LAMBDAREC_KEEP_BUNDLES``, default 5), never the current;
   a published candidate is removed from ``models/staging`` (a refused one stays for inspection).

Exit codes: 0 published (or already current), 1 refused by the gate, 2 invalid bundle/input,
3 the vector index could not be written. No TensorFlow is imported here (nor redis, unless the
vector backend is Redis: the DAG runs this step in the pipeline environment).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lambdarec_contracts import vector_index
from lambdarec_contracts.bundle import (
    GATE_LOG_FILE,
    ITEM_EMBEDDINGS_FILE,
    ITEM_TEXT_EMBEDDINGS_FILE,
    BundleManifest,
    GateRecord,
)
from lambdarec_contracts.vector_index import VectorIndexError
from training.bundle_eval import BundleError, read_manifest, verify_bundle

GATE_METRIC = "served_lift@10"


class GateRefused(Exception):
    """The candidate is worse than the published bundle beyond the tolerance."""


@dataclass
class GateResult:
    passed: bool
    new: float
    current: float | None
    tolerance: float
    message: str


def gate_decision(new: BundleManifest, current: BundleManifest | None, tolerance: float) -> GateResult:
    """Pure decision from the two manifests' recorded served metrics (see the module doc)."""
    m = new.metrics
    if GATE_METRIC not in m or "served_recall@10" not in m:
        return GateResult(
            False, float("nan"), None, tolerance, "REFUSED: the candidate has no served evaluation"
        )
    lift, served = m[GATE_METRIC], m["served_recall@10"]
    popular = new.baselines.get("most_popular", {}).get("recall@10", 0.0)
    if served < popular:
        msg = f"quality gate REFUSED: served recall@10 {served:.4f} < most-popular {popular:.4f} on the same split"
        return GateResult(False, lift, None, tolerance, msg)
    cur = current.metrics.get(GATE_METRIC) if current is not None else None
    if cur is None:
        why = "no published bundle" if current is None else "the published bundle has no served lift"
        return GateResult(
            True,
            lift,
            None,
            tolerance,
            f"{why}; {GATE_METRIC} {lift:.3f}, served recall@10 {served:.4f} >= most-popular {popular:.4f}",
        )
    floor = cur * (1.0 - tolerance)
    passed = lift >= floor
    verdict = "passes" if passed else "REFUSED"
    msg = (
        f"quality gate {verdict}: {GATE_METRIC} new {lift:.3f} vs current {cur:.3f} "
        f"(floor {floor:.3f} = current x (1 - {tolerance:g})); served recall@10 {served:.4f}"
    )
    return GateResult(passed, lift, cur, tolerance, msg)


def current_bundle(current_link: Path) -> Path | None:
    """The directory ``current`` points to, or None when nothing is published."""
    if not current_link.is_symlink() and not current_link.exists():
        return None
    target = current_link.resolve()
    return target if target.is_dir() else None


def run_gate(candidate: Path, current: Path | None, tolerance: float) -> GateResult:
    return gate_decision(
        read_manifest(candidate), read_manifest(current) if current is not None else None, tolerance
    )


def flip_current(current_link: Path, target: Path) -> None:
    """Atomically point ``current_link`` at ``target`` (a relative link, so the tree can move)."""
    tmp = current_link.parent / f".{current_link.name}.tmp-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, current_link.parent), tmp)
    os.replace(tmp, current_link)


def install(candidate: Path, bundles_dir: Path, version: str) -> Path:
    """Copy the candidate into ``bundles/<version>`` via a verified temporary copy and a rename."""
    bundles_dir.mkdir(parents=True, exist_ok=True)
    final = bundles_dir / version
    if final.exists():
        verify_bundle(final)  # an earlier run already installed it: re-use it only if intact
        return final
    tmp = bundles_dir / f".{version}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(candidate, tmp)
        verify_bundle(tmp)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def prune(bundles_dir: Path, keep: int, protect: Sequence[Path]) -> list[Path]:
    """Delete all but the newest ``keep`` bundles (versions sort by time); never a protected one."""
    protected = {p.resolve() for p in protect}
    versions = sorted(
        (p for p in bundles_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    removed = []
    for p in versions[:-keep] if keep > 0 else versions:
        if p.resolve() not in protected:
            shutil.rmtree(p)
            removed.append(p)
    return removed


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def record_decision(
    models_dir: Path, version: str, decision: str, result: GateResult | None, current: Path | None
) -> None:
    """Append one line to ``models/gate_decisions.jsonl`` (one small append: no partial lines)."""
    record = GateRecord(
        bundle_version=version,
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        decision=decision,  # type: ignore[arg-type]
        message=result.message if result is not None else "quality gate skipped (--force)",
        metric=GATE_METRIC,
        new=_finite(result.new) if result is not None else None,
        current=_finite(result.current) if result is not None else None,
        current_version=current.name if current is not None else None,
    )
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / GATE_LOG_FILE, "a", encoding="utf-8") as f:
        f.write(record.model_dump_json() + "\n")


class VectorPublisher:
    """Writes a bundle's vectors into Redis's query engine and drops old versions' indexes."""

    def __init__(self, redis_url: str) -> None:
        import redis  # the pipeline env has it; only this backend needs it

        self.client = redis.Redis.from_url(redis_url, socket_timeout=600)
        self.errors: tuple[type[Exception], ...] = (VectorIndexError, redis.RedisError)

    def write(self, bundle: Path, version: str, only_if_missing: bool = False) -> dict[str, int]:
        try:
            if only_if_missing and vector_index.index_name(version, vector_index.ITEM) in (
                vector_index.list_indexes(self.client)
            ):
                return {}
            vectors = {vector_index.ITEM: np.load(bundle / ITEM_EMBEDDINGS_FILE, mmap_mode="r")}
            if (bundle / ITEM_TEXT_EMBEDDINGS_FILE).exists():
                vectors[vector_index.TEXT] = np.load(bundle / ITEM_TEXT_EMBEDDINGS_FILE, mmap_mode="r")
            return vector_index.publish_vectors(self.client, version, vectors)
        except self.errors as e:
            raise VectorIndexError(f"vector index for {version} not written: {e}") from e

    def drop_except(self, versions: Sequence[str]) -> list[str]:
        """After the flip: a failure here only leaves old indexes behind (said, not raised)."""
        try:
            return vector_index.drop_versions_except(self.client, versions)
        except self.errors as e:
            print(f"warning: old vector indexes not dropped: {e}", file=sys.stderr)
            return []


def publish(
    candidate: Path,
    models_dir: Path,
    tolerance: float = 0.02,
    keep: int = 5,
    force: bool = False,
    vectors: VectorPublisher | None = None,
) -> tuple[Path, GateResult | None]:
    """Verify, gate, install, index the vectors (``vectors``) and flip.

    Raises BundleError / GateRefused / VectorIndexError; ``current`` changes only on success.
    """
    manifest = verify_bundle(candidate)
    current_link = models_dir / "current"
    bundles_dir = models_dir / "bundles"
    current = current_bundle(current_link)
    if current is not None and current.name == manifest.bundle_version:
        if vectors is not None:  # e.g. the backend was switched to Redis after this bundle was published
            vectors.write(current, current.name, only_if_missing=True)
        return current, None
    result = None
    if not force:
        result = run_gate(candidate, current, tolerance)
        if not result.passed:
            record_decision(models_dir, manifest.bundle_version, "refused", result, current)
            raise GateRefused(result.message)
    final = install(candidate, bundles_dir, manifest.bundle_version)
    if vectors is not None:
        vectors.write(final, manifest.bundle_version)
    flip_current(current_link, final)
    record_decision(models_dir, manifest.bundle_version, "forced" if force else "published", result, current)
    if vectors is not None:
        vectors.drop_except([manifest.bundle_version, *([current.name] if current is not None else [])])
    prune(bundles_dir, keep, protect=[final])
    if candidate.parent.resolve() == (models_dir / "staging").resolve():
        # Published candidates move out of staging; refused ones stay there for inspection.
        shutil.rmtree(candidate, ignore_errors=True)
    return final, result


def main(argv: Sequence[str] | None = None) -> int:
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    p = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--bundle", type=Path, required=True, help="candidate bundle directory (from training.train)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="allowed relative loss of the served lift (default 0.02)",
    )
    p.add_argument("--keep", type=int, default=settings.keep_bundles, help="bundles to keep (default 5)")
    p.add_argument("--force", action="store_true", help="skip the quality gate (still verifies the bundle)")
    args = p.parse_args(argv)
    if not 0.0 <= args.tolerance < 1.0:
        p.error("--tolerance must be in [0, 1)")
    try:
        vectors = VectorPublisher(settings.redis_url) if settings.vector_backend == "redis" else None
        final, result = publish(
            args.bundle.resolve(), settings.models_dir, args.tolerance, args.keep, args.force, vectors
        )
    except GateRefused as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    except BundleError as exc:
        print(f"not published: invalid bundle: {exc}", file=sys.stderr)
        return 2
    except (VectorIndexError, ImportError) as exc:
        print(f"not published (LAMBDAREC_VECTOR_BACKEND=redis): {exc}", file=sys.stderr)
        return 3
    if result is not None:
        print(result.message, file=sys.stderr)
    print(f"published {final.name}: {settings.current_bundle_link} -> {final}", file=sys.stderr)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
