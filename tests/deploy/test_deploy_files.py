"""The deployment files no engine runs here (no Docker, no cluster) still agree with what the tested parts do:
the image installs through deploy/install.sh (which CI runs), the compose file and the Kubernetes example give
the replicas what the store and the probes need, and compose mounts the nginx configuration the multi-host
test runs. Structure only: building and running them is not tested here (README, "Running several replicas")."""

from __future__ import annotations

import re

import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def test_the_dockerfile_installs_with_the_tested_script_and_runs_unprivileged_with_a_health_check():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    runs = [line for line in lines if line.startswith("RUN ")]
    assert any("deploy/install.sh" in run for run in runs)
    assert not any(re.search(r"\bpip\b", run) for run in runs), "install steps belong in deploy/install.sh"
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[user].split()[1] not in ("root", "0")
    cmd = max(i for i, line in enumerate(lines) if line.startswith("CMD "))  # the last: HEALTHCHECK has one too
    assert user < cmd and "serve" in lines[cmd]
    health = " ".join(lines[next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK")):][:2])
    assert "/healthz" in health
    stages = [line.split()[-1] for line in lines if line.startswith("FROM ")]
    assert stages[-1] == "replica", "`docker build` without --target must give the replica image"
    assert "ARG SERVING=onnx" in lines, "the replica image serves without torch by default"
    for section in ("store", "web"):
        assert (DEPLOY / "settings" / f"{section}.yml").is_file()
    assert yaml.safe_load((DEPLOY / "settings" / "store.yml").read_text()) == {
        "store": {"backend": "postgres", "url": "${DATABASE_URL}"}}


def test_compose_runs_postgres_two_replicas_and_nginx_with_the_tested_configuration():
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "replica1", "replica2", "nginx"} <= set(services)
    for name in ("replica1", "replica2"):
        replica = services[name]
        assert replica["build"]["dockerfile"] == "deploy/Dockerfile" and replica["build"]["target"] == "replica"
        assert "DATABASE_URL" in replica["environment"]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert any(volume.endswith(":/bot") for volume in replica["volumes"])  # one build, reloaded by both
    mounts = services["nginx"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in mounts
    assert "./nginx/replicas.conf:/etc/nginx/replicas.conf:ro" in mounts
    listed = (DEPLOY / "nginx" / "replicas.conf").read_text()
    assert "replica1:8080" in listed and "replica2:8080" in listed


def test_the_kubernetes_example_probes_healthz_and_reads_its_secrets():
    documents = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "smallbot.yaml").read_text())}
    assert set(documents) == {"Secret", "Deployment", "Service"}
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(documents["Secret"]["stringData"])
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": documents["Secret"]["metadata"]["name"]}}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert documents["Deployment"]["spec"]["replicas"] >= 2
    assert documents["Service"]["spec"]["selector"] == documents["Deployment"]["spec"]["selector"]["matchLabels"]
