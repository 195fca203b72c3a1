"""Experiment report: statistics against published values, attribution, and the CLI end to end."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import experiments_report
from jobs.speed_layer.experiments import attribute_clicks, variant_report
from jobs.speed_layer.records import EVENTS_SCHEMA, IMPRESSIONS_SCHEMA
from lambdarec_contracts.ab_stats import (
    normal_cdf,
    sample_size_per_variant,
    two_proportion_z_test,
    wilson_interval,
    z_quantile,
)

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe(x: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(x, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_normal_helpers() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-6)
    assert z_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert z_quantile(0.8) == pytest.approx(0.841621, abs=1e-6)


def test_two_proportion_z_test_by_hand() -> None:
    # 50/100 vs 60/100: pooled p = 0.55, se = sqrt(0.55 * 0.45 * (2/100)) = 0.0703562,
    # z = 0.10 / 0.0703562 = 1.42134, two-sided p = 2 * (1 - Phi(1.42134)) = 0.15522.
    t = two_proportion_z_test(50, 100, 60, 100)
    assert t is not None
    assert t.diff == pytest.approx(0.10)
    assert t.z == pytest.approx(1.42134, abs=1e-5)
    assert t.p_value == pytest.approx(0.15522, abs=1e-5)
    # symmetric, and undefined when nobody ever clicked
    assert two_proportion_z_test(60, 100, 50, 100).z == pytest.approx(-1.42134, abs=1e-5)
    assert two_proportion_z_test(0, 100, 0, 100) is None
    assert two_proportion_z_test(1, 0, 1, 10) is None


def test_sample_size_by_hand() -> None:
    # p1 = 0.10, p2 = 0.12: pbar = 0.11; 1.959964 * sqrt(2 * 0.11 * 0.89) = 0.867271,
    # 0.841621 * sqrt(0.09 + 0.1056) = 0.372222; (1.239493)^2 / 0.02^2 = 3840.8 -> 3841.
    assert sample_size_per_variant(0.10, 0.02) == 3841
    # p1 = 0.5, p2 = 0.6: pbar = 0.55; 1.959964 * sqrt(0.495) = 1.378970,
    # 0.841621 * sqrt(0.25 + 0.24) = 0.589127; (1.968097)^2 / 0.01 = 387.34 -> 388.
    assert sample_size_per_variant(0.5, 0.1) == 388
    assert sample_size_per_variant(0.95, 0.1) is None
    with pytest.raises(ValueError):
        sample_size_per_variant(0.1, 0.0)


def frame(rows: list[dict], schema: pa.Schema) -> pd.DataFrame:
    return pa.Table.from_pylist(rows, schema=schema).to_pandas()


def imp(req: str, user: str, item: str, minute: float, variant: str = "control", exp: str = "exp1") -> dict:
    return {
        "request_id": req, "user_id": user, "item_id": item, "position": 0, "model_version": "m1",
        "variant": variant, "experiment": exp, "source": "ann",
        "impression_ts": T0 + timedelta(minutes=minute), "ingested_at": T0,
    }  # fmt: skip


def click(eid: str, user: str, item: str, minute: float, type_: str = "click") -> dict:
    return {
        "event_id": eid, "user_id": user, "item_id": item, "event_type": type_, "value": None,
        "event_ts": T0 + timedelta(minutes=minute), "ingested_at": T0,
    }  # fmt: skip


def test_attribution_last_touch_within_window() -> None:
    impressions = frame(
        [
            imp("r1", "u1", "i1", 0),  # clicked at 10 (within 30 min)
            imp("r2", "u1", "i2", 0),  # clicked at 31: too late
            imp("r3", "u2", "i1", 0),  # u1's click is not u2's
            imp("r4", "u1", "i3", 0),  # shown twice; the click at 6 goes to the later one (r5)
            imp("r5", "u1", "i3", 5),
            imp("r6", "u3", "i1", 20),  # a click before the impression does not count
        ],
        IMPRESSIONS_SCHEMA,
    )
    events = frame(
        [
            click("c1", "u1", "i1", 10),
            click("c2", "u1", "i1", 12, "like"),  # second click on r1: still one clicked impression
            click("c3", "u1", "i2", 31),
            click("c4", "u1", "i3", 6),
            click("c5", "u3", "i1", 19),
            {**click("c6", "u2", "i1", 1, "view")},  # a view is not a click
        ],
        EVENTS_SCHEMA,
    )
    out = attribute_clicks(impressions, events, timedelta(minutes=30))
    assert dict(zip(out["request_id"], out["clicked"], strict=True)) == {
        "r1": True, "r2": False, "r3": False, "r4": False, "r5": True, "r6": False,
    }  # fmt: skip


def test_variant_report_by_hand() -> None:
    rows = variant_report({"treatment": (60, 100), "control": (50, 100)}, "exp1", "control", mde=0.1)
    assert [r.variant for r in rows] == ["control", "treatment"]
    control, treatment = rows
    assert (control.clicks, control.impressions, control.ctr, control.p_value) == (50, 100, 0.5, None)
    assert treatment.p_value == pytest.approx(0.15522, abs=1e-5)
    assert treatment.diff_vs_control == pytest.approx(0.1)
    # baseline = control CTR 0.5, mde 0.1 -> 388 per variant (see test_sample_size_by_hand)
    assert (treatment.required_per_variant, treatment.still_needed, control.still_needed) == (388, 288, 288)
    lo, hi = wilson_interval(60, 100)
    assert (treatment.ci_low, treatment.ci_high) == (lo, hi)
    assert math.isclose(hi, 0.6906, abs_tol=5e-5)  # Wilson 60/100: centre 0.59630, half-width 0.09430


def write_landed(data_dir: Path) -> None:
    imps, clicks = [], []
    # control: 8 impressions, 2 clicked; treatment: 8 impressions, 6 clicked; other experiment: 1
    for k in range(8):
        imps.append(imp(f"c{k}", f"u{k}", "i1", k, "control"))
        imps.append(imp(f"t{k}", f"u{k}", "i2", k, "treatment"))
        if k < 2:
            clicks.append(click(f"cc{k}", f"u{k}", "i1", k + 1))
        if k < 6:
            clicks.append(click(f"tc{k}", f"u{k}", "i2", k + 2))
    imps.append(imp("o1", "u1", "i9", 0, "control", exp="other"))
    part = Path("date=2026-01-01/hour=10")
    for root, rows, schema in (("impressions", imps, IMPRESSIONS_SCHEMA), ("landed", clicks, EVENTS_SCHEMA)):
        d = data_dir / "events" / root / part
        d.mkdir(parents=True)
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, d / "part-1-0_2-0.parquet")
        pq.write_table(table.slice(0, 3), d / "part-1-0_1-5.parquet")  # a re-delivered batch: deduped


def test_cli_end_to_end(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_landed(data_dir)
    assert experiments_report.main(["--experiment", "exp1", "--mde", "0.1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["variant"]: r for r in report["variants"]}
    assert (rows["control"]["impressions"], rows["control"]["clicks"]) == (8, 2)
    assert (rows["treatment"]["impressions"], rows["treatment"]["clicks"]) == (8, 6)
    # pooled p = 8/16 = 0.5, se = sqrt(0.25 * 2/8) = 0.25, z = (0.75 - 0.25) / 0.25 = 2.0, p = 0.0455
    assert rows["treatment"]["z"] == pytest.approx(2.0)
    assert rows["treatment"]["p_value"] == pytest.approx(0.04550, abs=1e-5)

    assert experiments_report.main(["--since", "2026-01-01T10:04"]) == 0
    table = capsys.readouterr().out
    assert "exp1" in table and "treatment" in table and "other" not in table  # o1 is at 10:00

    assert experiments_report.main(["--experiment", "nope"]) == 1
    assert "no landed impressions for experiment 'nope'" in capsys.readouterr().err
