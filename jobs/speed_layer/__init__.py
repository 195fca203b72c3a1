"""The speed layer: the stream worker, the hourly landing check and the experiment report.

Entry points are the thin CLIs ``jobs.stream_worker``, ``jobs.land_events`` and
``jobs.experiments_report``; the logic lives here as small pure functions
(``records``, ``landing``, ``stats``) around thin Redis / Feast / file shells.
"""
