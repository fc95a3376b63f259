"""Connection settings: `DWH_*` environment variables with defaults matching the local stack.

Every consumer (the CLI, loaders, tests, DAGs, dbt through profiles.yml) reads the same names.
Secrets are never committed: when a password is not in the environment, the local stack's
generated one is read from (or first written to) `$DWH_HOME/secrets.env`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULTS: dict[str, str] = {
    "DWH_HOME": str(REPO_ROOT / ".dwh"),
    "DWH_DBT_PROJECT_DIR": str(REPO_ROOT),
    "DWH_TARGET": "postgres",
    "DWH_PG_HOST": "127.0.0.1",
    "DWH_PG_PORT": "15432",
    "DWH_PG_USER": "dwh",
    "DWH_PG_DATABASE": "warehouse",
    "DWH_CH_HOST": "127.0.0.1",
    "DWH_CH_PORT": "18123",
    "DWH_CH_NATIVE_PORT": "19000",
    "DWH_CH_USER": "dwh",
    "DWH_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
    "DWH_S3_ENDPOINT": "http://127.0.0.1:19020",
    "DWH_S3_BUCKET": "warehouse",
    "DWH_S3_PREFIX": "sales",
    "DWH_S3_REGION": "us-east-1",
    "DWH_VERTICA_HOST": "",
    "DWH_VERTICA_PORT": "5433",
    "DWH_VERTICA_USER": "dbadmin",
    "DWH_VERTICA_DATABASE": "warehouse",
}

# Generated once per DWH_HOME for the local stack unless set in the environment.
SECRETS = ("DWH_PG_PASSWORD", "DWH_CH_PASSWORD", "DWH_S3_ACCESS_KEY", "DWH_S3_SECRET_KEY")
# Never generated: a Vertica is someone else's server.
OPTIONAL_SECRETS = ("DWH_VERTICA_PASSWORD",)


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _local_secrets(home: Path, missing: list[str]) -> dict[str, str]:
    """Read the local stack's secrets, generating the missing ones (file mode 0600)."""
    path = home / "secrets.env"
    stored = _read_env_file(path)
    new = {name: secrets.token_urlsafe(18) for name in missing if name not in stored}
    if new:
        home.mkdir(parents=True, exist_ok=True)
        stored.update(new)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{key}={value}\n" for key, value in sorted(stored.items()))
    return stored


@dataclass(frozen=True)
class Settings:
    """A resolved snapshot of every `DWH_*` setting."""

    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    @property
    def home(self) -> Path:
        return Path(self.values["DWH_HOME"])

    @property
    def dbt_project_dir(self) -> Path:
        return Path(self.values["DWH_DBT_PROJECT_DIR"])

    def port(self, name: str) -> int:
        return int(self.values[name])

    @property
    def kafka_port(self) -> int:
        return int(self.values["DWH_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])

    @property
    def s3_port(self) -> int:
        return int(self.values["DWH_S3_ENDPOINT"].rsplit(":", 1)[1].rstrip("/"))

    def as_env(self) -> dict[str, str]:
        """The settings plus what dbt needs to find this project, for child processes."""
        env = dict(self.values)
        env.setdefault("DBT_PROFILES_DIR", str(self.dbt_project_dir))
        env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        return env


def load(environ: dict[str, str] | None = None) -> Settings:
    """Resolve settings: environment first, then defaults, then the local stack's secrets."""
    environ = dict(os.environ if environ is None else environ)
    values = {key: environ.get(key, default) for key, default in DEFAULTS.items()}
    values.update({key: value for key, value in environ.items() if key.startswith("DWH_")})
    missing = [name for name in SECRETS if not values.get(name)]
    if missing:
        stored = _local_secrets(Path(values["DWH_HOME"]), missing)
        values.update({name: stored[name] for name in missing})
    for name in OPTIONAL_SECRETS:
        values.setdefault(name, "")
    return Settings(values)
