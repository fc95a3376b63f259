"""docker-compose.yaml without Docker: everything that can be checked here is checked here.

No Docker engine runs on development machines or in CI, so these tests read the compose file
the way Compose does (YAML with its anchors, then `${VAR}` interpolation from a `.env` made by
docker/new-env.sh) and check the result against the Compose Specification's JSON schema (as
vendored by check-jsonschema) and against the project: every DWH_* setting the code reads reaches
every container running project code, images are pinned, servers are health-checked and waited
for, ports stay on 127.0.0.1, the Airflow image installs exactly requirements.lock, and the
Airflow options are ones Airflow 3 knows. The Postgres init script runs for real on the local
stack's server.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import tomllib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from ingest import settings as settings_module

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "airflow.Dockerfile"
DOCS = ROOT / "docs" / "docker-compose.md"
PROJECT_DOCKERFILE = "docker/airflow.Dockerfile"
# Services the issue names; each must exist and run project code.
PROJECT_SERVICES = {
    "generator",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
# What a 16 GB laptop can give the long-running containers, leaving the rest to the OS.
MEMORY_BUDGET = 10 << 30


# --- reading the file as Compose does --------------------------------------------------------


class MissingVariable(Exception):
    """A `${NAME:?message}` whose variable is unset or empty: Compose refuses to start."""


# $$ is a literal $; ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME:+alt}, ...
REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")
BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?\Z", re.DOTALL)


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["bare"]:
            return env.get(match["bare"], "")
        parts = BRACED.match(match["braced"])
        if parts is None or "$" in (parts["arg"] or ""):
            raise ValueError(f"interpolation this test does not model: ${{{match['braced']}}}")
        name, op, arg = parts["name"], parts["op"] or "", parts["arg"] or ""
        value = env.get(name)
        is_set = value is not None and (value != "" or not op.startswith(":"))
        if op.endswith("-"):
            return value if is_set else arg
        if op.endswith("?"):
            if not is_set:
                raise MissingVariable(f"{name}: {arg}")
            return value
        if op.endswith("+"):
            return arg if is_set else ""
        return value or ""

    return REFERENCE.sub(substitute, text)


def walk(node: Any, func: Callable[[str], Any]) -> Any:
    """Apply `func` to every string value (Compose interpolates values, not keys)."""
    if isinstance(node, dict):
        return {key: walk(value, func) for key, value in node.items()}
    if isinstance(node, list):
        return [walk(value, func) for value in node]
    return func(node) if isinstance(node, str) else node


def referenced(node: Any) -> list[re.Match[str]]:
    found: list[re.Match[str]] = []
    walk(node, lambda text: found.extend(m for m in REFERENCE.finditer(text) if m["braced"]))
    return found


def read_dotenv(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


@dataclass(frozen=True)
class Port:
    host_ip: str
    published: int
    target: int


def ports(service: dict) -> list[Port]:
    found = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            found.append(
                Port(entry.get("host_ip", ""), int(entry["published"]), int(entry["target"]))
            )
            continue
        parts = str(entry).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        found.append(Port(host_ip, int(parts[-2]), int(parts[-1])))
    return found


def memory_bytes(limit: str | int) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(limit).lower())
    assert match, f"unreadable memory limit {limit!r}"
    unit = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match[2]]
    return int(float(match[1]) * unit)


def one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


def in_default_profile(service: dict) -> bool:
    return not service.get("profiles")


def runs_project_code(service: dict) -> bool:
    return (service.get("build") or {}).get("dockerfile") == PROJECT_DOCKERFILE


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .env made the documented way: docker/new-env.sh over .env.example."""
    path = tmp_path_factory.mktemp("compose") / ".env"
    subprocess.run(["sh", str(ROOT / "docker" / "new-env.sh"), str(path)], check=True, timeout=30)
    return path


@pytest.fixture(scope="module")
def dotenv(env_file: Path) -> dict[str, str]:
    return read_dotenv(env_file)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict, dotenv: dict[str, str]) -> dict:
    """The file after interpolation with the generated .env, as `docker compose config` sees it."""
    return walk(raw, lambda text: interpolate_text(text, dotenv))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


# --- the Compose Specification ----------------------------------------------------------------


def check_compose_spec(document: dict, path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip(
        "check_jsonschema", reason="check-jsonschema (a dev dependency) ships the compose schema"
    )
    path.write_text(json.dumps(document))
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
        + [str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_file_validates_against_the_compose_specification(compose, tmp_path):
    result = check_compose_spec(compose, tmp_path / "compose.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_what_compose_would_reject(compose, tmp_path):
    broken = json.loads(json.dumps(compose))
    broken["services"]["postgres"]["mem_limitt"] = "1g"
    broken["services"]["kafka"]["depends_on"] = {"postgres": {"condition": "service_up"}}
    result = check_compose_spec(broken, tmp_path / "broken.json")
    assert result.returncode != 0
    assert "mem_limitt" in result.stdout and "service_up" in result.stdout


# --- .env: every variable listed, secrets generated, none defaulted ----------------------------


def test_env_example_lists_every_variable_compose_reads(raw):
    listed = read_dotenv(ROOT / ".env.example")
    missing = {BRACED.match(m["braced"])["name"] for m in referenced(raw)} - set(listed)
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_without_generated_secrets_compose_refuses_to_start(raw):
    listed = read_dotenv(ROOT / ".env.example")
    with pytest.raises(MissingVariable, match="new-env.sh"):
        walk(raw, lambda text: interpolate_text(text, listed))


def test_secrets_have_no_defaults(raw):
    secret = re.compile(r"(PASSWORD|SECRET|_KEY)\b")
    for match in referenced(raw):
        parts = BRACED.match(match["braced"])
        if parts and secret.search(parts["name"]) and parts["name"] != "DWH_VERTICA_PASSWORD":
            assert parts["op"] == ":?", f"{match[0]}: secrets must be required, never defaulted"


def test_new_env_generates_usable_secrets(env_file, dotenv):
    from cryptography.fernet import Fernet

    generated = {
        key: value
        for key, value in dotenv.items()
        if read_dotenv(ROOT / ".env.example").get(key) == "" and value
    }
    assert set(settings_module.SECRETS) <= set(generated)
    Fernet(generated.pop("AIRFLOW_FERNET_KEY").encode())
    assert len(generated["AIRFLOW_JWT_SECRET"]) >= 64, "HMAC-SHA512 wants 64 bytes or more"
    for key, value in generated.items():
        assert re.fullmatch(r"[A-Za-z0-9]{20,}", value), key
    assert len(set(generated.values())) == len(generated), "two secrets came out equal"
    assert env_file.stat().st_mode & 0o077 == 0, ".env must be readable by its owner only"
    again = subprocess.run(["sh", str(ROOT / "docker" / "new-env.sh"), str(env_file)], timeout=30)
    assert again.returncode != 0 and read_dotenv(env_file) == dotenv, "overwrote an existing .env"


# --- project code gets every setting, pointing at the compose servers --------------------------


def dwh_names_mentioned() -> set[str]:
    """Every DWH_* name the code, dbt files or DAGs mention, so none added elsewhere is missed."""
    names: set[str] = set()
    sources = [
        *ROOT.glob("ingest/**/*.py"),
        *ROOT.glob("dags/**/*.py"),
        *ROOT.glob("macros/**/*.sql"),
        *ROOT.glob("models/**/*.sql"),
        *ROOT.glob("models/**/*.yml"),
        ROOT / "profiles.yml",
        ROOT / "dbt_project.yml",
    ]
    for path in sources:
        names |= set(re.findall(r"\bDWH_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


# Set for each dbt invocation by the pipeline and the DAG tasks (the day a run rebuilds), not a
# setting of a service.
PER_RUN = {"DWH_RUN_DATE"}


def dwh_names_read_by_code() -> set[str]:
    settings = (
        set(settings_module.DEFAULTS)
        | set(settings_module.SECRETS)
        | set(settings_module.OPTIONAL_SECRETS)
    )
    return (settings | dwh_names_mentioned()) - PER_RUN


def test_the_project_services_exist_and_share_the_project_image(services):
    project = {name for name, service in services.items() if runs_project_code(service)}
    assert project == PROJECT_SERVICES
    assert len({services[name]["image"] for name in project}) == 1


def test_the_scan_finds_names_outside_settings_py():
    # profiles.yml reads DWH_DBT_THREADS, which settings.py does not define
    assert {"DWH_PG_HOST", "DWH_DBT_THREADS"} <= dwh_names_mentioned()


@pytest.mark.parametrize("name", sorted(PROJECT_SERVICES))
def test_every_setting_the_code_reads_reaches_the_service(services, name):
    environment = services[name]["environment"]
    missing = dwh_names_read_by_code() - set(environment)
    assert not missing, f"{name} lacks {sorted(missing)}"
    empty = {key for key in settings_module.SECRETS if not environment[key]}
    assert not empty, f"{name}: empty secrets {sorted(empty)}"


def test_settings_point_at_the_compose_servers(services):
    env = services["airflow-scheduler"]["environment"]

    def serves(service: str, port: str | int) -> bool:
        listeners = services[service].get("environment", {}).get("KAFKA_LISTENERS", "")
        internal = {int(p) for p in re.findall(r"INTERNAL://[^:]*:(\d+)", listeners)}
        return int(port) in {p.target for p in ports(services[service])} | internal

    assert serves(env["DWH_PG_HOST"], env["DWH_PG_PORT"])
    assert serves(env["DWH_CH_HOST"], env["DWH_CH_PORT"])
    assert serves(env["DWH_CH_HOST"], env["DWH_CH_NATIVE_PORT"])
    assert serves(*env["DWH_KAFKA_BOOTSTRAP"].split(":"))
    assert serves(*env["DWH_S3_ENDPOINT"].removeprefix("http://").split(":"))
    assert env["DWH_VERTICA_HOST"] == "", "no Vertica unless asked for"
    assert env["DWH_PG_DATABASE"] == services["postgres"]["environment"]["DWH_PG_DATABASE"]
    assert env["DWH_CH_USER"] == services["clickhouse"]["environment"]["CLICKHOUSE_USER"]
    assert env["DWH_S3_ACCESS_KEY"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
    assert env["DWH_S3_BUCKET"] == services["minio-init"]["environment"]["DWH_S3_BUCKET"]


def generator_argv(services: dict[str, dict], tmp_path: Path, **settings: str) -> list[str]:
    """The arguments the generator service's command gives `dwh` (a stand-in that records them)."""
    stand_in = tmp_path / "dwh"
    record = "import json, sys; print(json.dumps(sys.argv[1:]))"
    stand_in.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{record}' \"$@\"\n")
    stand_in.chmod(0o755)
    service = services["generator"]
    env = {**service["environment"], **settings, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(service["command"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_vertica_profile_is_one_setting_away(raw, dotenv):
    with_vertica = walk(
        raw, lambda text: interpolate_text(text, {**dotenv, "VERTICA_HOST": "vertica"})
    )
    services = with_vertica["services"]
    env = services["airflow-scheduler"]["environment"]
    assert env["DWH_VERTICA_HOST"] == "vertica" and services["vertica"]["profiles"] == ["vertica"]
    assert int(env["DWH_VERTICA_PORT"]) in {p.target for p in ports(services["vertica"])}
    assert env["DWH_VERTICA_DATABASE"] == services["vertica"]["environment"]["VERTICA_DB_NAME"]


def test_the_generator_makes_the_dags_days_with_their_seed_and_scale(services, tmp_path):
    env = services["generator"]["environment"]
    assert (env["DWH_AIRFLOW_START_DATE"], env["DWH_AIRFLOW_END_DATE"]) == (
        "2022-10-01",
        "2022-10-14",
    )
    days = ["generate", "--start", "2022-10-01", "--end", "2022-10-14"]
    assert generator_argv(services, tmp_path) == days
    seeded = generator_argv(services, tmp_path, DWH_SEED="7", DWH_SCALE="0.5")
    assert seeded == [*days, "--seed", "7", "--scale", "0.5"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "dwh" in scripts
    from ingest import cli

    args = cli.parser().parse_args(seeded)
    assert (str(args.start), str(args.end), args.seed, args.scale) == (
        "2022-10-01",
        "2022-10-14",
        7,
        0.5,
    )


# --- images, health, order, ports, volumes, memory ---------------------------------------------


def pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def test_every_image_is_pinned(services):
    for name, service in services.items():
        assert pinned(service["image"]), f"{name}: {service['image']} is not a pinned tag"
    for line in DOCKERFILE.read_text().splitlines():
        if line.upper().startswith("FROM "):
            assert pinned(line.split()[1]), line


def test_servers_are_health_checked_and_waited_for(services):
    for name, service in services.items():
        if not one_shot(service):
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            expected = (
                "service_completed_successfully"
                if one_shot(services[needed])
                else "service_healthy"
            )
            assert how.get("condition") == expected, f"{name} -> {needed}"
            if how.get("required") is False:
                assert not in_default_profile(services[needed]), f"{name} -> {needed}"


def test_nothing_starts_before_what_it_needs(services):
    def needs(name: str) -> set[str]:
        return set(services[name].get("depends_on", {}))

    assert {"kafka", "minio-init"} <= needs("generator")
    assert "minio" in needs("minio-init")
    assert "postgres" in needs("airflow-init")
    for name in PROJECT_SERVICES - {"generator", "airflow-init"}:
        assert {"postgres", "airflow-init"} <= needs(name), name
    # the scheduler runs the tasks: every server, the bucket, the demo data, the execution API
    servers = {"postgres", "clickhouse", "kafka", "vertica"}
    assert servers | {"minio-init", "generator", "airflow-apiserver"} <= needs("airflow-scheduler")
    # and no cycle
    order: list[str] = []
    while len(order) < len(services):
        ready = [n for n in services if n not in order and needs(n) <= set(order)]
        assert ready, f"dependency cycle among {set(services) - set(order)}"
        order += ready


def test_ports_stay_on_localhost_at_the_local_stacks_numbers(services, dotenv):
    for name, service in services.items():
        for port in ports(service):
            assert port.host_ip == "127.0.0.1", f"{name}: {port} is reachable from other hosts"

    def published(service: str, target: int) -> int:
        (port,) = [p.published for p in ports(services[service]) if p.target == target]
        return port

    defaults = settings_module.load(
        {"DWH_HOME": "/nonexistent", **{key: "x" for key in settings_module.SECRETS}}
    )
    assert published("postgres", 5432) == defaults.port("DWH_PG_PORT")
    assert published("clickhouse", 8123) == defaults.port("DWH_CH_PORT")
    assert published("clickhouse", 9000) == defaults.port("DWH_CH_NATIVE_PORT")
    assert published("kafka", 9094) == defaults.kafka_port
    assert published("minio", 9000) == defaults.s3_port
    assert published("vertica", 5433) == defaults.port("DWH_VERTICA_PORT")
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"HOST://{defaults['DWH_KAFKA_BOOTSTRAP']}" in advertised.split(",")
    for key in ("DWH_PG_PORT", "DWH_CH_PORT", "DWH_KAFKA_BOOTSTRAP", "DWH_S3_ENDPOINT"):
        assert dotenv[key] == defaults[key], f".env.example's {key} differs from settings.py"


def test_server_data_lives_in_named_volumes(compose, services):
    def mounts(service: str) -> dict[str, str]:
        pairs = (volume.split(":")[:2] for volume in services[service].get("volumes", []))
        return {target: source for source, target in pairs}

    data_dirs = {
        "postgres": "/var/lib/postgresql",
        "clickhouse": "/var/lib/clickhouse",
        "kafka": services["kafka"]["environment"]["KAFKA_LOG_DIRS"],
        "minio": services["minio"]["command"][1],
        "vertica": "/data",
        "airflow-scheduler": "/opt/airflow/logs",
    }
    for service, path in data_dirs.items():
        assert mounts(service).get(path) in compose["volumes"], f"{service}: {path}"
    for service in services.values():
        for source in mounts_of(service):
            assert source.startswith("./") or source in compose["volumes"], source


def mounts_of(service: dict) -> list[str]:
    return [volume.split(":")[0] for volume in service.get("volumes", [])]


def test_bind_mounted_files_exist(services):
    for service in services.values():
        for source in mounts_of(service):
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source


def test_memory_limits_fit_a_16_gb_laptop_and_the_docs_say_so(services):
    for name, service in services.items():
        assert "mem_limit" in service, f"{name} has no memory limit"
    running = sum(
        memory_bytes(s["mem_limit"])
        for s in services.values()
        if in_default_profile(s) and not one_shot(s)
    )
    assert running <= MEMORY_BUDGET
    stated = f"{running / (1 << 30):.2f} GiB"
    assert stated in DOCS.read_text(), f"docs/docker-compose.md should state {stated}"


def test_docs_cover_every_service_and_port(services):
    text = DOCS.read_text()
    for name, service in services.items():
        assert f"`{name}`" in text, f"docs/docker-compose.md does not mention {name}"
        for port in ports(service):
            assert str(port.published) in text, f"docs do not mention port {port.published}"


# --- Airflow: the image is the lock, the options are Airflow's ---------------------------------


def run_commands(dockerfile: str) -> list[str]:
    """The shell commands of the RUN instructions, split at `&&`."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    runs = [line[4:] for line in joined.splitlines() if line.startswith("RUN ")]
    return [command.strip() for run in runs for command in run.split("&&")]


def test_the_airflow_image_installs_exactly_the_lock():
    text = DOCKERFILE.read_text()
    copied = re.search(r"^COPY requirements\.lock (\S+)$", text, re.MULTILINE)
    assert copied, "the Dockerfile must copy requirements.lock"
    installs = [c for c in run_commands(text) if re.match(r"(python -m )?pip install", c)]
    lock_install = f"pip install --no-deps --requirement {copied[1]}"
    assert lock_install in installs, "the lock, and nothing it does not pin"
    project = [c for c in installs if "--editable" in c or c.endswith(" .")]
    assert project and all("--no-deps" in c for c in project), "the project must add no deps"
    others = set(installs) - set(project) - {lock_install}
    assert all(re.fullmatch(r"pip install pip==[\d.]+", c) for c in others), others
    assert "pip check" in run_commands(text)
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(r"^apache-airflow==3\.3\.\d+$", lock, re.MULTILINE)
    python = re.search(r"^FROM python:(\d+\.\d+)\.", text, re.MULTILINE)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python and requires == f">={python[1]}", "the image's Python is the lock's"


def test_the_image_holds_the_project_where_the_settings_say(services):
    text = DOCKERFILE.read_text()
    env = services["airflow-scheduler"]["environment"]
    home = env["DWH_DBT_PROJECT_DIR"]
    assert re.search(rf"^COPY --chown=\S+ \. {home}$", text, re.MULTILINE)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{home}/dags" and (ROOT / "dags").is_dir()
    assert env["DBT_PROFILES_DIR"] == home


def test_the_image_has_the_manifests_the_dags_render_from(services):
    from ingest import orchestration

    env = services["airflow-scheduler"]["environment"]
    settings = settings_module.load({**env, "DWH_VERTICA_HOST": "vertica"})
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    loop = re.search(r"for target in ([\w ]+); do\s+dbt parse (.*?); +done", text)
    assert loop, "the Dockerfile must run dbt parse for each target"
    assert set(loop[1].split()) == set(orchestration.targets(settings))
    for target in orchestration.targets(settings):
        where = orchestration.manifest_path(target, settings).parent
        relative = where.relative_to(settings.dbt_project_dir)
        assert f'--target-path "{relative}"'.replace(target, "$target") in loop[2], target


def test_airflow_is_configured_as_make_airflow_configures_it(services):
    """ingest/airflow_local.py is the local Airflow's configuration; compose differs on purpose
    only where a container must: its paths, the API's address, and DAGs starting unpaused."""
    from ingest import airflow_local

    env = services["airflow-scheduler"]["environment"]
    settings = settings_module.load({**env, "DWH_HOME": "/nonexistent"})
    local = airflow_local.airflow_env(settings, environ={"AIRFLOW_HOME": "/opt/airflow"})
    deliberate = {
        "AIRFLOW__CORE__DAGS_FOLDER",  # the image's checkout (the same dags/)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",  # compose backfills the demo days
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",  # the admin's name from .env
        "AIRFLOW__API__HOST",  # all interfaces of the container; published on 127.0.0.1
        "AIRFLOW__API__PORT",  # the container's 8080
        "AIRFLOW__API__BASE_URL",  # the published port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",  # the API server's name in the compose network
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS",  # no dbt docs in the image: they need a database
    }
    differ = {
        key: (value, env.get(key))
        for key, value in local.items()
        if key.startswith("AIRFLOW__") and key not in deliberate and env.get(key) != value
    }
    assert not differ, f"compose's Airflow differs from make airflow's: {differ}"
    (api,) = ports(services["airflow-apiserver"])
    assert env["AIRFLOW__API__BASE_URL"] == f"http://127.0.0.1:{api.published}"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent folder counts."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_out_and_sources_in():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".env", ".env.local", ".dwh/secrets.env", ".venv/bin/python", ".git/config"):
        assert dockerignored(path, patterns), path
    needed = [
        "requirements.lock",
        "pyproject.toml",
        "profiles.yml",
        "dbt_project.yml",
        "ingest/settings.py",
        "docker/airflow-entrypoint.sh",
        *(str(p.relative_to(ROOT)) for p in ROOT.glob("models/**/*.sql")),
        *(str(p.relative_to(ROOT)) for p in ROOT.glob("dags/*.py")),
    ]
    for path in needed:
        assert not dockerignored(path, patterns), path


AIRFLOW_PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.configuration import conf
    from airflow.cli.cli_parser import get_parser
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import create_async_engine
    import cosmos.settings

    commands, names = json.loads(sys.argv[1])
    options = conf.configuration_description
    # cosmos reads its options with fallbacks (and [openlineage] namespace, for its datasets);
    # enable_telemetry is checked by value below
    read_by_cosmos = ("AIRFLOW__COSMOS__", "AIRFLOW__OPENLINEAGE__NAMESPACE")
    unknown = [n for n in names if not n.startswith(read_by_cosmos) and
               n.split("__")[2].lower() not in
               options.get(n.split("__")[1].lower(), {}).get("options", {})]
    parser = get_parser()
    for command in commands:
        parser.parse_args(command)
    create_engine(conf.get("database", "sql_alchemy_conn"))
    create_async_engine(conf.get("database", "sql_alchemy_conn_async"))
    print(json.dumps({
        "unknown": unknown,
        "executor": conf.get("core", "executor"),
        "load_examples": conf.getboolean("core", "load_examples"),
        "auth_manager": conf.get("core", "auth_manager"),
        "health_port": conf.getint("scheduler", "scheduler_health_check_server_port"),
        "cosmos_telemetry": cosmos.settings.enable_telemetry,
        "passwords": SimpleAuthManager.get_passwords(),
    }))
    """
)


def airflow_commands(services: dict[str, dict]) -> list[list[str]]:
    commands = []
    for name in sorted(PROJECT_SERVICES - {"generator"}):
        service = services[name]
        commands.append(service["command"][1:])
        test = service["healthcheck"]["test"] if "healthcheck" in service else []
        if test[:1] == ["CMD-SHELL"] and test[1].startswith("airflow "):
            commands.append(test[1].replace('"${HOSTNAME}"', "host").split()[1:])
    return commands


def test_airflow_takes_the_settings_and_commands_compose_gives_it(services, tmp_path):
    api = services["airflow-apiserver"]
    env = {key: str(value) for key, value in api["environment"].items()}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(tmp_path / "passwords.json"),
        PATH=os.environ["PATH"],
    )
    names = [key for key in env if key.startswith("AIRFLOW__")]
    # through the image's entry point, which writes the admin password file first
    result = subprocess.run(
        ["bash", str(ROOT / "docker" / "airflow-entrypoint.sh"), sys.executable, "-c"]
        + [AIRFLOW_PROBE, json.dumps([airflow_commands(services), names])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["unknown"] == [], "options Airflow does not have"
    assert probe["executor"] == "LocalExecutor"
    assert probe["load_examples"] is False and probe["cosmos_telemetry"] is False
    assert probe["auth_manager"].endswith("SimpleAuthManager")
    assert probe["passwords"] == {env["AIRFLOW_ADMIN_USER"]: env["AIRFLOW_ADMIN_PASSWORD"]}
    assert (tmp_path / "passwords.json").stat().st_mode & 0o077 == 0
    health = services["airflow-scheduler"]["healthcheck"]["test"][-1]
    assert f":{probe['health_port']}/health" in health


def test_airflow_containers_agree_and_keep_metadata_apart(services):
    airflow = {
        name: {k: v for k, v in services[name]["environment"].items() if k.startswith("AIRFLOW__")}
        for name in PROJECT_SERVICES - {"generator"}
    }
    first = airflow.pop("airflow-scheduler")
    for name, env in airflow.items():
        assert env == first, f"{name}'s Airflow settings differ from the scheduler's"
    url = first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url == first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"]
    assert re.fullmatch(r"postgresql\+psycopg://airflow:[^@]+@postgres:5432/airflow", url)
    warehouse = services["postgres"]["environment"]["DWH_PG_DATABASE"]
    assert warehouse != "airflow", "Airflow's metadata needs its own database"


# --- the servers' own configuration ------------------------------------------------------------


def test_clickhouse_profile_matches_the_local_stack():
    from ingest.stack.clickhouse import USER_SETTINGS

    tree = ET.parse(ROOT / "docker" / "clickhouse" / "users.d" / "warehouse.xml")
    profile = {e.tag: e.text for e in tree.getroot().find("profiles/default")}
    # the settings that change query results; the local stack adds server-housekeeping ones
    assert {"join_use_nulls", "union_default_mode"} <= set(profile)
    assert profile == {key: USER_SETTINGS.get(key) for key in profile}


def test_postgres_init_script_makes_both_databases_each_closed_to_the_other(dwh):
    from ingest.stack.postgres import bin_dir

    tag = uuid.uuid4().hex[:8]
    roles = {"DWH_PG_USER": f"compose_dwh_{tag}", "AIRFLOW_DB_USER": f"compose_airflow_{tag}"}
    databases = {"DWH_PG_DATABASE": f"compose_wh_{tag}", "AIRFLOW_DB_NAME": f"compose_af_{tag}"}
    passwords = {"DWH_PG_PASSWORD": secrets.token_hex(12), "AIRFLOW_DB_PASSWORD": "it's 'quoted'"}
    env = {
        "PATH": f"{bin_dir()}:{os.environ['PATH']}",
        "POSTGRES_USER": dwh["DWH_PG_USER"],
        "POSTGRES_DB": "postgres",
        "PGHOST": "127.0.0.1",
        "PGPORT": dwh["DWH_PG_PORT"],
        "PGPASSWORD": dwh["DWH_PG_PASSWORD"],
        **roles,
        **databases,
        **passwords,
    }

    def connect(role: str, database: str, password: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=dwh.port("DWH_PG_PORT"),
            user=role,
            password=password,
            dbname=database,
            connect_timeout=10,
        )

    try:
        script = ROOT / "docker" / "postgres" / "init-databases.sh"
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        dwh_role = (roles["DWH_PG_USER"], passwords["DWH_PG_PASSWORD"])
        airflow_role = (roles["AIRFLOW_DB_USER"], passwords["AIRFLOW_DB_PASSWORD"])
        with connect(dwh_role[0], databases["DWH_PG_DATABASE"], dwh_role[1]) as conn:
            conn.execute("create schema raw_check")
        with connect(airflow_role[0], databases["AIRFLOW_DB_NAME"], airflow_role[1]) as conn:
            conn.execute("create table alembic_check (id int)")
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(airflow_role[0], databases["DWH_PG_DATABASE"], airflow_role[1])
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(dwh_role[0], databases["AIRFLOW_DB_NAME"], dwh_role[1])
    finally:
        with connect(dwh["DWH_PG_USER"], "postgres", dwh["DWH_PG_PASSWORD"]) as admin:
            admin.autocommit = True
            for database in databases.values():
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(
                        sql.Identifier(database)
                    )
                )
            for role in roles.values():
                admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
