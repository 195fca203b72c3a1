"""Feast imported without typeguard's instrumentation: the same Feast, minus its import-time cost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Whether FeatureView.__init__ (decorated by Feast with typeguard's @typechecked) was recompiled
# with typeguard's argument checks, and whether a wrong argument type is refused, in a fresh process.
PROBE = """
import sys
{prelude}
from feast import FeatureView
print("instrumented" if "typeguard" in FeatureView.__init__.__code__.co_names else "plain")
"""


def _probe(prelude: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude)],
        capture_output=True,
        text=True,
        check=True,
        env={**{k: v for k, v in os.environ.items() if k != "LAMBDAREC_FEAST_TYPECHECKS"}, **env},
    )
    return out.stdout.strip()


def test_plain_feast_import_is_instrumented() -> None:
    # The premise: without lambdarec's package, Feast's classes carry typeguard's checks.
    assert _probe("") == "instrumented"


def test_importing_feature_repo_skips_the_instrumentation() -> None:
    assert _probe("import feature_repo") == "plain"


def test_typechecks_can_be_kept() -> None:
    assert _probe("import feature_repo", LAMBDAREC_FEAST_TYPECHECKS="1") == "instrumented"


def test_too_late_once_feast_is_imported() -> None:
    assert _probe("import feast; import feature_repo") == "instrumented"


@pytest.mark.parametrize("target_first", [True, False])
def test_decorator_stand_in_returns_its_target(target_first: bool) -> None:
    from feature_repo.feast_import import _not_instrumented

    def f(x: int) -> int:
        return x

    decorated = _not_instrumented(f) if target_first else _not_instrumented(collection_check_strategy=None)(f)
    assert decorated is f
