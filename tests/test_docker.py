"""The Docker image and compose file, without a Docker engine: the image's files are laid out as its
COPY lines say, and the app runs from there as the image's CMD and the compose worker start it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from test_deploy import free_port, production_env, running, wait_until_up

DOCKERFILE = ROOT / "docs" / "docker" / "Dockerfile"
COMPOSE = ROOT / "docs" / "docker" / "docker-compose.yml"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def image_layout(target: Path) -> Path:
    """The image's /app: what each COPY puts there, and nothing else from the checkout."""
    for keyword, rest in instructions():
        if keyword != "COPY":
            continue
        *sources, destination = shlex.split(rest)
        assert not any(s.startswith("--") for s in sources), "COPY options are not modelled here"
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, target / destination, ignore=shutil.ignore_patterns("__pycache__"))
            elif destination.endswith("/") or destination == ".":
                (target / destination).mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / destination / origin.name)
            else:
                (target / destination).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / destination)
    return target


def image_cmd() -> list[str]:
    (cmd,) = [json.loads(rest) for keyword, rest in instructions() if keyword == "CMD"]
    return cmd


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_image_runs_as_a_numeric_user() -> None:
    (user,) = [rest for keyword, rest in instructions() if keyword == "USER"]
    # Kubernetes' runAsNonRoot can only prove a numeric user is not root.
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), user


def test_the_compose_worker_has_no_health_check_on_a_port_it_does_not_serve() -> None:
    worker = compose()["services"]["worker"]
    check = worker.get("healthcheck", {})
    assert check.get("disable") is True or ("8000" not in json.dumps(check.get("test", "")) and check.get("test")), (
        "the worker would inherit the image's HEALTHCHECK on :8000"
    )


def test_the_compose_web_and_worker_share_the_metrics_directory() -> None:
    (env,) = [rest for keyword, rest in instructions() if keyword == "ENV" and "PROMETHEUS_MULTIPROC_DIR" in rest]
    directory = re.search(r"PROMETHEUS_MULTIPROC_DIR=(\S+)", env).group(1)  # type: ignore[union-attr]
    services = compose()["services"]
    mounts = [{v.split(":")[1] for v in services[name].get("volumes", [])} for name in ("web", "worker")]
    assert all(directory in m for m in mounts), "the worker's counts would never reach the web's /metrics"


@pytest.mark.slow
def test_the_image_layout_serves_the_api_document_and_readiness(tmp_path: Path, redis_url: str) -> None:
    app = image_layout(tmp_path / "app")
    port = free_port()
    env = production_env(port, redis_url, tmp_path / "tmp", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    (tmp_path / "metrics").mkdir()
    cmd = image_cmd()
    assert cmd[0] == "granian" and "webhooks.serve:worker_app" in cmd  # the Procfile's server model
    bound = {"--host": "127.0.0.1", "--port": str(port)}
    command = [bound.get(before, part) for before, part in zip(["", *cmd], cmd, strict=False)]
    base = f"http://127.0.0.1:{port}"
    with running(shlex.join(command), env, cwd=app) as web:
        wait_until_up(base, web)
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=5) as response:
            assert json.load(response)["openapi"].startswith("3.1")
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as response:
            assert response.status == 200


@pytest.mark.slow
def test_the_image_layout_starts_the_compose_worker(tmp_path: Path, redis_url: str) -> None:
    app = image_layout(tmp_path / "app")
    env = production_env(free_port(), redis_url, tmp_path / "tmp", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    env = {**env, "PYTHONUNBUFFERED": "1"}
    command = compose()["services"]["worker"]["command"]
    process = subprocess.Popen(command, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert "polling" in line, line + process.stdout.read().decode() if process.poll() is not None else line
        time.sleep(0.5)
        assert process.poll() is None, "the worker stopped"
    finally:
        process.terminate()
        process.wait(10)
    assert os.listdir(app) and not (app / "tests").exists()
