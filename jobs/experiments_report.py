"""A/B experiment report: ``python -m jobs.experiments_report [--experiment NAME] [--since ISO] [--mde 0.01] [--json]``.

Reads the speed layer's landed impressions and events, attributes clicks/likes to the
impression of the same user and item shown at most ``--window-min`` earlier, and prints per
variant: impressions, clicks, CTR with its 95% Wilson interval, a two-proportion z-test
against the control, and the impressions per variant needed to detect an absolute CTR
change of ``--mde`` at alpha 0.05 / power 0.8.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from jobs.speed_layer.experiments import attribute_clicks, experiment_counts, format_table, variant_report
from jobs.speed_layer.landing import read_all_landed
from jobs.speed_layer.settings import SpeedLayerSettings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.experiments_report", description=__doc__.splitlines()[0])
    p.add_argument("--experiment", help="only this experiment (default: every experiment found)")
    p.add_argument("--since", help="only impressions at or after this ISO-8601 time (UTC if no offset)")
    p.add_argument(
        "--mde", type=float, default=0.01, help="minimum detectable effect, absolute CTR (0.01 = 1 pp)"
    )
    p.add_argument("--control", default="control", help="name of the control variant")
    p.add_argument("--window-min", type=float, default=30.0, help="attribution window after an impression")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    if not 0 < args.mde < 1:
        p.error("--mde must be within (0, 1)")
    if args.window_min <= 0:
        p.error("--window-min must be > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = SpeedLayerSettings()
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"error: --since is not ISO-8601: {args.since!r}", file=sys.stderr)
            return 2
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    impressions = read_all_landed(settings.impressions_dir, "impressions").to_pandas()
    if since is not None:
        impressions = impressions[impressions["impression_ts"] >= since]
    if args.experiment:
        impressions = impressions[impressions["experiment"] == args.experiment]
    if impressions.empty:
        what = f"experiment {args.experiment!r}" if args.experiment else "any experiment"
        print(f"error: no landed impressions for {what} under {settings.impressions_dir}", file=sys.stderr)
        return 1
    events = read_all_landed(settings.events_dir, "events").to_pandas()
    attributed = attribute_clicks(impressions, events, timedelta(minutes=args.window_min))
    rows = [
        row
        for exp, counts in sorted(experiment_counts(attributed).items())
        for row in variant_report(counts, exp, args.control, args.mde)
    ]
    if args.json:
        print(json.dumps({"mde": args.mde, "alpha": 0.05, "power": 0.8, "control": args.control,
                          "window_min": args.window_min, "variants": [r.as_dict() for r in rows]}, indent=2))  # fmt: skip
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
