"""lambdarec's Feast feature repository (definitions split by object kind).

``feast`` imports the definition modules as top-level modules with this folder
as the working directory; the jobs only use :mod:`feature_repo.feast_settings`.

Importing this package makes the process's later ``import feast`` skip typeguard's
import-time instrumentation (:mod:`feature_repo.feast_import`): ~3 s per process.
"""

from feature_repo.feast_import import skip_feast_typechecks

skip_feast_typechecks()
