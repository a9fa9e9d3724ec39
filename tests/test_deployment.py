"""docker-compose.yml and the Dockerfile agree with the code they run (no Docker here to run
them): every setting they pass exists, and the services find each other where they listen."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
SERVICES = COMPOSE["services"]


def _setting_names() -> set[str]:
    """The environment variables Settings reads."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.update(choices if choices else [f"QA_{name.upper()}"])
    return names


def _image_env() -> dict[str, str]:
    """The ENV of the Dockerfile (``KEY=value`` pairs, continued lines joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def test_every_setting_the_deployment_passes_exists() -> None:
    known = _setting_names()
    passed = {k for k in _image_env() if k.startswith("QA_")}
    for service in SERVICES.values():
        passed |= {k for k in service.get("environment", {}) if k.startswith("QA_")}
    assert passed, "the deployment passes no QA_ setting: is the file read right?"
    assert passed - known == set(), "settings the code does not read"


def test_the_replicas_reach_the_database_the_postgres_service_creates() -> None:
    database = SERVICES["postgres"]["environment"]
    for name in ("api-a", "api-b", "indexer"):
        url = urlsplit(SERVICES[name]["environment"]["QA_DATABASE_URL"])
        assert url.hostname == "postgres" and url.port == 5432, name
        assert (url.username, url.password, url.path.lstrip("/")) == (
            database["POSTGRES_USER"],
            database["POSTGRES_PASSWORD"],
            database["POSTGRES_DB"],
        )


def test_each_replica_publishes_the_port_the_image_serves_on() -> None:
    env = _image_env()
    assert env["QA_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert re.search(r"^EXPOSE\s+" + env["QA_PORT"] + r"\b", DOCKERFILE, re.MULTILINE)
    published = [SERVICES[name]["ports"][0] for name in ("api-a", "api-b")]
    assert all(p.endswith(":" + env["QA_PORT"]) for p in published)
    assert len(set(published)) == 2  # one host port each


def test_the_indexer_finds_the_ray_head_it_starts() -> None:
    head = SERVICES["ray-head"]["entrypoint"]
    port = next(arg.split("=", 1)[1] for arg in head if arg.startswith("--port="))
    assert SERVICES["indexer"]["environment"]["RAY_ADDRESS"] == f"ray-head:{port}"
    # The flags are ones `ray start` takes (the image installs ray with the package).
    usage = subprocess.run(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (arg.split("=", 1)[0] for arg in head[2:]):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", usage), flag


def test_the_image_holds_every_package_the_project_ships() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) /src/\1$", DOCKERFILE, re.MULTILINE))
    assert copied == shipped
