"""docker/*.Dockerfile and .dockerignore: locks, users, health checks, entry points, context."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import pytest
from docker_test_helpers import (
    DOCKER_DIR,
    REPO_ROOT,
    Stage,
    copy_sources,
    dockerignore_patterns,
    dockerignored,
    exec_form,
    parse_dockerfile,
    stages,
)

# image -> (lock files `uv pip sync` installs, files installed with --no-deps)
IMAGES = {
    "serving": ({"requirements/serving.lock"}, set()),
    "worker": ({"requirements/pipeline.lock"}, set()),
    "airflow": (
        {"requirements/pipeline.lock", "requirements/training.lock"},
        {"requirements/training-nodeps.txt"},
    ),
    "training": ({"requirements/training.lock"}, {"requirements/training-nodeps.txt"}),
}
PINNED_BASE = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?$")


def load(name: str) -> list[Stage]:
    return stages(parse_dockerfile((DOCKER_DIR / f"{name}.Dockerfile").read_text()))


def final(name: str) -> Stage:
    return load(name)[-1]


def effective(name: str, target: str | None = None) -> Stage:
    """A runtime target with the instructions it inherits from earlier stages (FROM <stage>)."""
    by_name = {s.name: s for s in load(name) if s.name}
    stage = by_name[target] if target else load(name)[-1]
    chain = [stage]
    while chain[0].base in by_name:
        chain.insert(0, by_name[chain[0].base])
    return Stage(base=chain[0].base, name=stage.name, instructions=[i for s in chain for i in s.instructions])


# Every image a build can produce: (Dockerfile, target)
TARGETS = [
    ("serving", None),
    ("worker", None),
    ("training", None),
    ("airflow", "airflow"),
    ("airflow", "airflow-with-training"),
]


def run_args(stage_list: list[Stage]) -> str:
    return "\n".join(i.args for s in stage_list for i in s.all("RUN"))


def test_every_image_has_a_dockerfile() -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKER_DIR.glob("*.Dockerfile")} == set(IMAGES)


def test_hadolint_finds_nothing(hadolint_bin: str) -> None:
    files = sorted(str(p) for p in DOCKER_DIR.glob("*.Dockerfile"))
    proc = subprocess.run([hadolint_bin, "--no-color", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_would_catch_a_root_image(hadolint_bin: str, tmp_path) -> None:
    """The linter really lints: an unpinned base image and `USER root` are reported."""
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text('FROM python\nUSER root\nCMD ["python"]\n')
    proc = subprocess.run([hadolint_bin, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "DL3006" in proc.stdout and "DL3002" in proc.stdout


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_multi_stage_with_pinned_bases(name: str) -> None:
    st = load(name)
    assert len(st) >= 2, f"{name}: build and runtime stages expected"
    names = {s.name for s in st if s.name}
    for s in st:
        if s.base in names:
            continue  # FROM an earlier stage
        assert PINNED_BASE.match(s.base), f"{name}: base {s.base!r} is not pinned to a patch version"
        assert "latest" not in s.base


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_installs_exactly_its_lock_files_with_uv_pip_sync(name: str) -> None:
    locks, nodeps = IMAGES[name]
    runs = run_args(load(name))
    synced = set(re.findall(r"uv pip sync [^&]*?(/tmp/(requirements/[\w.-]+\.lock))", runs))
    assert {s[1] for s in synced} == locks
    for lock in locks | nodeps:
        assert (REPO_ROOT / lock).is_file(), f"{name}: {lock} does not exist"
    nodeps_installed = set(re.findall(r"--no-deps -r /tmp/(requirements/[\w.-]+)", runs))
    assert nodeps_installed == nodeps
    copied = {src for s in load(name) for c in s.all("COPY") for src in copy_sources(c)}
    assert locks | nodeps <= copied, f"{name}: every lock it installs must be copied in"
    assert "pip install -r" not in runs and "uv pip install -r" not in runs.replace("--no-deps -r", "")


def test_serving_image_stays_slim() -> None:
    """No TensorFlow, Spark or Airflow in the serving lock or the serving image's code."""
    lock = (REPO_ROOT / "requirements/serving.lock").read_text().lower()
    pins = set(re.findall(r"^([a-z0-9][a-z0-9._-]*)==", lock, re.M))
    assert {"fastapi", "uvicorn", "onnxruntime", "redis"} <= pins
    assert not pins & {
        "tensorflow",
        "tensorflow-cpu",
        "pyspark",
        "apache-airflow",
        "feast",
        "torch",
        "dbt-core",
    }
    copied = {src for c in final("serving").all("COPY") for src in copy_sources(c)}
    assert copied == {"lambdarec_contracts/", "serving/", "docker/healthcheck.py", "docker/check_secrets.sh"}


@pytest.mark.parametrize(("name", "target"), TARGETS)
def test_runs_as_a_numeric_non_root_user(name: str, target: str | None) -> None:
    image = effective(name, target)
    users = image.all("USER")
    assert users, f"{name}: no USER in the final stage"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit() and int(uid) > 0, f"{name}: USER {users[-1].args!r} must be a numeric non-root uid"
    assert uid == gid == "10001", "one uid across images keeps the shared volumes writable"
    assert f"--uid {uid}" in run_args([image]) and f"--gid {gid}" in run_args([image])


@pytest.mark.parametrize("name", ["serving", "worker", "airflow"])
def test_services_have_a_healthcheck_whose_script_is_in_the_image(name: str) -> None:
    st = effective(name)
    (hc,) = st.all("HEALTHCHECK")
    cmd = exec_form(hc.args[hc.args.index("CMD") + 3 :])
    assert cmd[:2] == ["python", "/app/docker/healthcheck.py"]
    copied = {src for c in st.all("COPY") for src in copy_sources(c)}
    assert "docker/healthcheck.py" in copied
    assert (REPO_ROOT / "docker/healthcheck.py").is_file()


def test_batch_image_declares_no_healthcheck_explicitly() -> None:
    (hc,) = final("training").all("HEALTHCHECK")
    assert hc.args == "NONE"


def test_training_image_sets_legacy_keras() -> None:
    env = " ".join(i.args for i in final("training").all("ENV"))
    assert "TF_USE_LEGACY_KERAS=1" in env
    st = {s.name: s for s in load("airflow")}
    assert "TF_USE_LEGACY_KERAS=1" in " ".join(i.args for i in st["airflow-with-training"].all("ENV"))


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_code_on_pythonpath_and_venv_on_path(name: str) -> None:
    st = load(name)
    env = " ".join(i.args for s in st for i in s.all("ENV"))
    assert "PYTHONPATH=/app" in env
    assert re.search(r"PATH=/opt/venvs/\w+/bin:\$PATH", env)


def test_entry_points_exist_in_the_code() -> None:
    """The modules the images start are real modules of this repo."""
    serving_cmd = exec_form(final("serving").all("CMD")[-1].args)
    assert serving_cmd[:3] == ["uvicorn", "serving.app:create_app", "--factory"]
    module, _, attr = serving_cmd[1].partition(":")
    app_module = importlib.import_module(module)
    assert callable(getattr(app_module, attr))
    worker_cmd = exec_form(final("worker").all("CMD")[-1].args)
    assert worker_cmd == ["python", "-m", "jobs.stream_worker"]
    assert importlib.util.find_spec("jobs.stream_worker") is not None


def test_airflow_image_has_java_dags_and_code() -> None:
    st = {s.name: s for s in load("airflow")}
    assert list(st)[-1] == "airflow", "the default (last) target is the production image"
    base = st["airflow-base"]
    assert "openjdk-17-jre-headless" in run_args([base])
    env = " ".join(i.args for i in base.all("ENV"))
    for needed in (
        "JAVA_HOME=/opt/java",
        "AIRFLOW__CORE__DAGS_FOLDER=/app/dags",
        "LAMBDAREC_VENVS=/opt/venvs",
    ):
        assert needed in env
    copied = {src for c in base.all("COPY") for src in copy_sources(c)}
    assert {"dags/", "dbt/", "jobs/", "feature_repo/", "lambdarec_contracts/"} <= copied
    assert "training/" not in copied, "training code only rides in the airflow-with-training target"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_copied_sources_exist_and_are_not_dockerignored(name: str) -> None:
    patterns = dockerignore_patterns((REPO_ROOT / ".dockerignore").read_text())
    for s in load(name):
        for c in s.all("COPY"):
            for src in copy_sources(c):
                assert (REPO_ROOT / src).exists(), f"{name}: COPY {src} does not exist"
                assert not dockerignored(src, patterns), f"{name}: COPY {src} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns((REPO_ROOT / ".dockerignore").read_text())
    for path in (
        ".venvs/pipeline/bin/python",
        "var/data/warehouse.duckdb",
        ".git/HEAD",
        "docker/.env",
        "serving/__pycache__/app.cpython-311.pyc",
        "dbt/target/manifest.json",
        "tests/conftest.py",
        "testing_support/redis_server.py",
    ):
        assert dockerignored(path, patterns), path
    assert not dockerignored("docker/.env.example", patterns)
