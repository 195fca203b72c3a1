"""Quality gate and atomic publish, on copies of a real (tiny) bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdarec_contracts.bundle import GATE_LOG_FILE, MANIFEST_FILE, BundleManifest, GateRecord
from training.artifacts import file_checksums
from training.bundle_eval import BundleError, verify_bundle
from training.publish import GateRefused, gate_decision, main, publish

pytestmark = pytest.mark.slow  # uses the session's real (tiny) TensorFlow training run


def variant(src: Path, dest_root: Path, version: str, mutate: Callable[[Path], None] | None = None) -> Path:
    """A copy of ``src`` under a new version, optionally modified, with fresh checksums."""
    d = dest_root / version
    shutil.copytree(src, d)
    if mutate:
        mutate(d)
    m = BundleManifest.model_validate_json((d / MANIFEST_FILE).read_text())
    m = m.model_copy(update={"bundle_version": version, "file_checksums": file_checksums(d)})
    (d / MANIFEST_FILE).write_text(m.model_dump_json())
    return d


def with_metrics(**metrics: float) -> Callable[[Path], None]:
    """Mutation: overwrite recorded metrics (what the training run's served evaluation measured)."""

    def mutate(d: Path) -> None:
        m = BundleManifest.model_validate_json((d / MANIFEST_FILE).read_text())
        (d / MANIFEST_FILE).write_text(
            m.model_copy(update={"metrics": {**m.metrics, **metrics}}).model_dump_json()
        )

    return mutate


def above_most_popular(d: Path) -> None:
    """Mutation: record a served recall@10 at least the bundle's own most-popular baseline's.

    The tiny fixture (143 users, 90 items, 2 epochs) serves within noise of its most-popular
    chart (0.30 vs 0.30); the tests using this are about the gate's lift rule and the flip, not
    about that model (the DAG runs in tests/e2e publish through the real floor)."""
    m = BundleManifest.model_validate_json((d / MANIFEST_FILE).read_text())
    floor = m.baselines.get("most_popular", {}).get("recall@10", 0.0)
    served = max(m.metrics["served_recall@10"], floor)
    (d / MANIFEST_FILE).write_text(
        m.model_copy(update={"metrics": {**m.metrics, "served_recall@10": served}}).model_dump_json()
    )


def _both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        for f in mutations:
            f(d)

    return mutate


def _manifest(lift: float | None, served: float = 0.2, popular: float = 0.1) -> BundleManifest:
    metrics = {"served_recall@10": served} | ({"served_lift@10": lift} if lift is not None else {})
    return BundleManifest.model_construct(metrics=metrics, baselines={"most_popular": {"recall@10": popular}})


def test_gate_decision() -> None:
    assert gate_decision(_manifest(1.05), None, 0.02).passed
    assert gate_decision(_manifest(0.98), _manifest(1.0), 0.02).passed  # exactly at the floor 1.0 * 0.98
    r = gate_decision(_manifest(0.9), _manifest(1.0), 0.02)
    assert not r.passed and "REFUSED" in r.message and "0.900" in r.message and "1.000" in r.message
    # Losing to the run's own most-popular chart is refused even with nothing published.
    r = gate_decision(_manifest(1.2, served=0.09, popular=0.1), None, 0.02)
    assert not r.passed and "most-popular" in r.message
    # A bundle from before the served evaluation: no recorded lift -> only the chart floor applies.
    assert gate_decision(_manifest(0.5), _manifest(None), 0.02).passed
    assert not gate_decision(_manifest(None), None, 0.02).passed  # a candidate must carry its evaluation


def test_gate_refuses_a_worse_bundle(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    lift = verify_bundle(tiny_bundle).metrics["served_lift@10"]
    good = variant(tiny_bundle, tmp_path / "staging", "20240101T000000000Z-good", above_most_popular)
    bad = variant(
        tiny_bundle,
        tmp_path / "staging",
        "20240102T000000000Z-bad",
        _both(above_most_popular, with_metrics(**{"served_lift@10": lift * 0.8})),
    )
    final, result = publish(good, models)
    assert result is not None and result.current is None
    assert (models / "current").resolve() == final.resolve()
    with pytest.raises(GateRefused, match="REFUSED") as info:
        publish(bad, models)
    assert "served_lift@10 new" in str(info.value)
    assert (models / "current").resolve() == final.resolve()
    assert not (models / "bundles" / bad.name).exists()
    # The CLI says why and exits 1.
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(tmp_path))
    assert main(["--bundle", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not published: quality gate REFUSED: served_lift@10 new" in err


def test_gate_passes_an_equal_bundle_and_flips(tiny_bundle: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    a = variant(tiny_bundle, tmp_path / "staging", "20240101T000000000Z-a", above_most_popular)
    b = variant(
        tiny_bundle, models / "staging", "20240102T000000000Z-b", above_most_popular
    )  # default staging
    publish(a, models)
    final, result = publish(b, models, tolerance=0.0)
    assert result is not None and result.passed and result.new == pytest.approx(result.current)
    assert not b.exists() and a.exists()  # moved out of models/staging; other candidates untouched
    assert os.readlink(models / "current") == "bundles/20240102T000000000Z-b"
    assert final.is_dir() and (models / "bundles" / a.name).is_dir()


def test_failed_publish_leaves_the_old_pointer(tiny_bundle: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    a = variant(tiny_bundle, tmp_path / "staging", "20240101T000000000Z-a", above_most_popular)
    publish(a, models)
    broken = variant(tiny_bundle, tmp_path / "staging", "20240102T000000000Z-broken")
    (broken / "ranker.onnx").write_bytes(b"truncated")  # corrupted after the manifest was written
    with pytest.raises(BundleError, match="checksum mismatch for ranker.onnx"):
        publish(broken, models, force=True)
    assert os.readlink(models / "current") == f"bundles/{a.name}"
    assert sorted(p.name for p in (models / "bundles").iterdir()) == [a.name]  # no partial copy left


def test_cli_exit_code_for_an_invalid_bundle(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "LAMBDAREC_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "training.publish", "--bundle", str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2
    assert "not published: invalid bundle" in out.stderr and "Traceback" not in out.stderr


def test_readers_never_see_a_half_written_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    versions = [variant(tiny_bundle, tmp_path / "staging", f"2024010{i}T000000000Z-v") for i in range(1, 7)]
    publish(versions[0], models, force=True)
    errors: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                target = (models / "current").resolve(strict=True)
                seen.add(verify_bundle(target).bundle_version)
            except (OSError, BundleError) as exc:
                # A pruned old bundle may vanish after a reader resolved it; anything else is a bug.
                if (models / "current").resolve() == target:
                    errors.append(repr(exc))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for v in versions[1:]:
            publish(v, models, force=True, keep=3)
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert len(seen) >= 2
    assert os.readlink(models / "current") == f"bundles/{versions[-1].name}"
    assert sorted(p.name for p in (models / "bundles").iterdir()) == [v.name for v in versions[-3:]]


def test_every_gate_decision_is_recorded(tmp_path: Path) -> None:
    """published / refused / forced each append a GateRecord with the values the gate compared
    (hand-made bundles: no training run needed)."""
    from testing_support.bundle_builder import BundleSpec, build_bundle

    def staged(version: str, lift: float) -> Path:
        d = build_bundle(tmp_path / "staging", BundleSpec(version=version, served=True))
        m = BundleManifest.model_validate_json((d / MANIFEST_FILE).read_text())
        metrics = {"served_recall@10": 0.3, "served_lift@10": lift}
        upd = {
            "metrics": metrics,
            "baselines": {"most_popular": {"recall@10": 0.1}},
            "file_checksums": file_checksums(d),
        }
        (d / MANIFEST_FILE).write_text(m.model_copy(update=upd).model_dump_json())
        return d

    models = tmp_path / "models"
    publish(staged("20240101T000000000Z-a", 1.10), models)
    with pytest.raises(GateRefused):
        publish(staged("20240102T000000000Z-b", 0.90), models)
    publish(staged("20240103T000000000Z-c", 0.50), models, force=True)
    log = [GateRecord.model_validate_json(ln) for ln in (models / GATE_LOG_FILE).read_text().splitlines()]
    assert [(r.bundle_version[-1], r.decision, r.current_version) for r in log] == [
        ("a", "published", None),
        ("b", "refused", "20240101T000000000Z-a"),
        ("c", "forced", "20240101T000000000Z-a"),
    ]
    assert log[0].new == pytest.approx(1.10) and log[0].current is None
    assert log[1].new == pytest.approx(0.90) and log[1].current == pytest.approx(1.10)
    assert "REFUSED" in log[1].message and "0.900" in log[1].message
    assert log[2].new is None and "skipped" in log[2].message
