"""The Pipelines page's data: the DAGs' last runs (Airflow's REST API) and the published bundles.

Airflow is optional for serving: unset, unreachable or refusing, the page says so and still
lists the bundles and the quality gate's decisions (``models/gate_decisions.jsonl``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from lambdarec_contracts.bundle import GATE_LOG_FILE, MANIFEST_FILE, BundleManifest, GateRecord

from ..settings import ServingSettings

DAG_IDS = ("build_features_daily", "train_models", "land_events_hourly")
RUNS_PER_DAG = 5
GATE_RECORDS_MAX = 200


class AirflowError(RuntimeError):
    """Airflow did not answer, or not as its REST API does (the message is shown on the page)."""


def _call(req: urllib.request.Request, timeout_s: float) -> Any:
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (configured URL)
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise AirflowError(f"HTTP {e.code} from {req.full_url.split('?')[0]}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        raise AirflowError(f"not reachable ({reason})") from e


def _token(s: ServingSettings, base: str) -> str:
    """A JWT from the simple auth manager: with credentials when configured, else all-admins."""
    if s.airflow_username and s.airflow_password is not None:
        body = json.dumps(
            {"username": s.airflow_username, "password": s.airflow_password.get_secret_value()}
        ).encode()
        req = urllib.request.Request(
            f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
    else:
        req = urllib.request.Request(f"{base}/auth/token", method="GET")
    reply = _call(req, s.airflow_timeout_s)
    token = reply.get("access_token") if isinstance(reply, dict) else None
    if not token:
        raise AirflowError("the token endpoint returned no access_token")
    return str(token)


def _run_row(base: str, dag_id: str, run: dict[str, Any]) -> dict[str, Any]:
    run_id = str(run.get("dag_run_id") or run.get("run_id") or "")
    return {
        "run_id": run_id,
        "state": run.get("state"),
        "run_type": run.get("run_type"),
        "logical_date": run.get("logical_date"),
        "start_date": run.get("start_date"),
        "end_date": run.get("end_date"),
        "url": f"{base}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}",
    }


def airflow_runs(s: ServingSettings) -> dict[str, Any]:
    """``{configured, reachable, ui_url, error, dags: [{dag_id, url, runs, error}]}``."""
    if not s.airflow_url:
        return {
            "configured": False,
            "reachable": False,
            "ui_url": None,
            "error": "LAMBDAREC_AIRFLOW_URL is not set",
            "dags": [],
        }
    base = s.airflow_url.rstrip("/")
    out: dict[str, Any] = {"configured": True, "reachable": False, "ui_url": base, "error": None, "dags": []}
    try:
        headers = {"Authorization": f"Bearer {_token(s, base)}"}
    except AirflowError as e:
        out["error"] = str(e)
        return out
    out["reachable"] = True
    for dag_id in DAG_IDS:
        q = urllib.parse.urlencode({"order_by": "-start_date", "limit": RUNS_PER_DAG})
        req = urllib.request.Request(f"{base}/api/v2/dags/{dag_id}/dagRuns?{q}", headers=headers)
        dag: dict[str, Any] = {"dag_id": dag_id, "url": f"{base}/dags/{dag_id}", "runs": [], "error": None}
        try:
            reply = _call(req, s.airflow_timeout_s)
            dag["runs"] = [_run_row(base, dag_id, r) for r in reply.get("dag_runs", [])]
        except AirflowError as e:
            dag["error"] = str(e)
        out["dags"].append(dag)
    return out


def gate_records(models_dir: Path) -> list[GateRecord]:
    """The quality gate's decisions, newest last (unreadable lines are skipped)."""
    try:
        lines = (models_dir / GATE_LOG_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines[-GATE_RECORDS_MAX:]:
        try:
            out.append(GateRecord.model_validate_json(line))
        except ValueError:
            continue
    return out


def _manifest(d: Path) -> BundleManifest | None:
    try:
        return BundleManifest.model_validate_json((d / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None


def bundles(s: ServingSettings) -> dict[str, Any]:
    """Bundles on disk (published and staged), newest first, each with its gate decisions."""
    models = s.models_dir
    current = s.bundle_link.resolve() if s.bundle_link.exists() else None
    records = gate_records(models)
    by_version: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_version.setdefault(r.bundle_version, []).append(r.model_dump())
    rows = []
    for where in ("bundles", "staging"):
        folder = models / where
        dirs = (
            sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
            if folder.is_dir()
            else []
        )
        for d in dirs:
            man = _manifest(d)
            version = man.bundle_version if man is not None else d.name
            rows.append(
                {
                    "version": version,
                    "where": where,
                    "current": current is not None and d.resolve() == current,
                    "created_at": man.created_at if man is not None else None,
                    "metrics": {
                        k: v
                        for k, v in (man.metrics if man is not None else {}).items()
                        if k.startswith("served_")
                    },
                    "gate": by_version.get(version, []),
                }
            )
    return {"bundles": rows, "gate_log": [r.model_dump() for r in reversed(records)][:50]}
