"""Import Feast without typeguard's import-time instrumentation.

Feast decorates its core classes (``FeatureView``, ``OnDemandFeatureView``, ``DataSource`` ...)
with typeguard's ``@typechecked``, which re-parses and recompiles every method of those classes
when ``feast`` is imported: ~3 of the ~4.4 s ``import feast`` takes on 2 cores, paid by every
process that touches Feast (each materialization, ``feast apply``, the training set, the
speed-layer worker). typeguard documents the decorator as a development aid that is a no-op
under ``python -O`` ("type checking ... not meant to be run in production"); this does the same
for Feast alone, without ``-O`` dropping every ``assert`` of every other package.

Feast itself is unchanged: the same objects, registry and online-store writes; only the
argument-type checks on its constructors are not compiled in. ``LAMBDAREC_FEAST_TYPECHECKS=1``
keeps them (e.g. while writing new feature definitions).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _not_instrumented(target: Any = None, **_options: Any) -> Any:
    """``typeguard.typechecked`` as under ``python -O``: returns its target unchanged."""
    if target is None:
        return lambda actual: actual
    return target


def skip_feast_typechecks() -> bool:
    """Make the next ``import feast`` skip typeguard's instrumentation; False when it is too late
    (Feast already imported in this process) or kept on purpose."""
    if os.environ.get("LAMBDAREC_FEAST_TYPECHECKS") == "1" or "feast" in sys.modules:
        return False
    try:
        import typeguard
    except ImportError:  # an environment without Feast (serving, training): nothing to skip
        return False

    # Feast binds ``from typeguard import typechecked`` while its modules import, so the module
    # attribute is what it picks up; typeguard's own use of its check functions is untouched.
    typeguard.typechecked = _not_instrumented
    return True
