"""Quality gate and atomic publish of a candidate bundle.

    python -m training.publish --bundle DIR [--tolerance 0.02] [--keep 5] [--force]

1. Verify the candidate (every file in ``manifest.file_checksums`` present and matching).
2. Gate: if a bundle is published, re-evaluate BOTH bundles on the candidate's evaluation split
   (``evaluation_set.parquet``: users, histories and features as of the cut-off, held-out
   positives, excluded items) through their exported artifacts (ONNX query tower + item
   embeddings + vocab files), with the same metric code. Recorded metrics are not compared:
   the current bundle was evaluated on an older split, so its number is not comparable.
   Refuse (exit 1) unless ``recall@10(new) >= recall@10(current) * (1 - tolerance)``; the
   tolerance is relative (0.02 = may lose at most 2% of the current recall).
3. Copy into ``bundles/.<version>.tmp-<pid>``, verify the copy, rename it to
   ``bundles/<version>`` (atomic on one filesystem), then point ``current`` at it by creating
   a temporary symlink and ``os.replace``-ing it over ``current``: readers see the old or the
   new bundle, never a mix. A failure at any step leaves ``current`` untouched.
4. Keep the newest ``--keep`` bundles (``LAMBDAREC_KEEP_BUNDLES``, default 5), never the current;
   a published candidate is removed from ``models/staging`` (a refused one stays for inspection).

Exit codes: 0 published (or already current), 1 refused by the gate, 2 invalid bundle/input.
No TensorFlow is imported here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.bundle_eval import BundleError, LoadedBundle, evaluate_loaded, load_eval_set, verify_bundle

GATE_METRIC = "recall@10"


class GateRefused(Exception):
    """The candidate is worse than the published bundle beyond the tolerance."""


@dataclass
class GateResult:
    passed: bool
    new: float
    current: float | None
    tolerance: float
    message: str


def gate_decision(new: float, current: float | None, tolerance: float) -> GateResult:
    """Pure decision: pass when there is no current bundle or new >= current * (1 - tolerance)."""
    if current is None:
        return GateResult(True, new, None, tolerance, f"no published bundle; {GATE_METRIC} {new:.4f}")
    floor = current * (1.0 - tolerance)
    passed = new >= floor
    verdict = "passes" if passed else "REFUSED"
    msg = (
        f"quality gate {verdict}: {GATE_METRIC} new {new:.4f} vs current {current:.4f} "
        f"(floor {floor:.4f} = current x (1 - {tolerance:g})), delta {new - current:+.4f}"
    )
    return GateResult(passed, new, current, tolerance, msg)


def current_bundle(current_link: Path) -> Path | None:
    """The directory ``current`` points to, or None when nothing is published."""
    if not current_link.is_symlink() and not current_link.exists():
        return None
    target = current_link.resolve()
    return target if target.is_dir() else None


def run_gate(candidate: Path, current: Path | None, tolerance: float) -> GateResult:
    """Evaluate candidate and current on the candidate's split through ONNX and decide."""
    eval_set = load_eval_set(candidate)
    new_metrics, _ = evaluate_loaded(LoadedBundle.load(candidate), eval_set)
    cur_value = None
    if current is not None:
        cur_metrics, _ = evaluate_loaded(LoadedBundle.load(current), eval_set)
        cur_value = cur_metrics[GATE_METRIC]
    return gate_decision(new_metrics[GATE_METRIC], cur_value, tolerance)


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


def publish(
    candidate: Path,
    models_dir: Path,
    tolerance: float = 0.02,
    keep: int = 5,
    force: bool = False,
) -> tuple[Path, GateResult | None]:
    """Verify, gate, install and flip. Raises BundleError / GateRefused; ``current`` changes only on success."""
    manifest = verify_bundle(candidate)
    current_link = models_dir / "current"
    bundles_dir = models_dir / "bundles"
    current = current_bundle(current_link)
    if current is not None and current.name == manifest.bundle_version:
        return current, None
    result = None
    if not force:
        result = run_gate(candidate, current, tolerance)
        if not result.passed:
            raise GateRefused(result.message)
    final = install(candidate, bundles_dir, manifest.bundle_version)
    flip_current(current_link, final)
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
        "--tolerance", type=float, default=0.02, help="allowed relative recall@10 loss (default 0.02)"
    )
    p.add_argument("--keep", type=int, default=settings.keep_bundles, help="bundles to keep (default 5)")
    p.add_argument("--force", action="store_true", help="skip the quality gate (still verifies the bundle)")
    args = p.parse_args(argv)
    if not 0.0 <= args.tolerance < 1.0:
        p.error("--tolerance must be in [0, 1)")
    try:
        final, result = publish(
            args.bundle.resolve(), settings.models_dir, args.tolerance, args.keep, args.force
        )
    except GateRefused as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    except BundleError as exc:
        print(f"not published: invalid bundle: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(result.message, file=sys.stderr)
    print(f"published {final.name}: {settings.current_bundle_link} -> {final}", file=sys.stderr)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
