"""A/B statistics on proportions (CTR), stdlib only: Wilson intervals, z-test, sample size.

Shared by the experiment report (jobs.experiments_report) and the console's live CTR panel (serving).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_STD_NORMAL = NormalDist()


def normal_cdf(z: float) -> float:
    """Standard normal CDF via the error function."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def z_quantile(p: float) -> float:
    """Inverse standard normal CDF (e.g. 0.975 -> 1.95996)."""
    return _STD_NORMAL.inv_cdf(p)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..trials, got {successes}/{trials}")
    z = z_quantile(0.5 + confidence / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class ZTest:
    diff: float  # p_treatment - p_control
    z: float
    p_value: float  # two-sided


def two_proportion_z_test(x_control: int, n_control: int, x_treatment: int, n_treatment: int) -> ZTest | None:
    """Pooled two-proportion z-test, two-sided; None when a group is empty or the pooled rate is 0 or 1."""
    if n_control <= 0 or n_treatment <= 0:
        return None
    p1, p2 = x_control / n_control, x_treatment / n_treatment
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_control + 1.0 / n_treatment))
    if se == 0.0:
        return None
    z = (p2 - p1) / se
    return ZTest(diff=p2 - p1, z=z, p_value=2.0 * (1.0 - normal_cdf(abs(z))))


def sample_size_per_variant(
    p_baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Impressions per variant to detect an absolute CTR change of ``mde`` (two-sided test).

    n = (z_{1-a/2} sqrt(2 pbar (1-pbar)) + z_{power} sqrt(p1 (1-p1) + p2 (1-p2)))^2 / mde^2,
    with p2 = p1 + mde and pbar their mean (Fleiss, without continuity correction).
    None when p1 + mde leaves [0, 1].
    """
    if mde <= 0:
        raise ValueError(f"mde must be > 0, got {mde}")
    p1, p2 = p_baseline, p_baseline + mde
    if not (0.0 <= p1 <= 1.0 and 0.0 <= p2 <= 1.0):
        return None
    pbar = (p1 + p2) / 2.0
    za, zb = z_quantile(1.0 - alpha / 2.0), z_quantile(power)
    root = za * math.sqrt(2.0 * pbar * (1.0 - pbar)) + zb * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return math.ceil(root * root / (mde * mde))
