"""The committed deployment files are exactly what the generator writes from the catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mercato import catalog
from mercato.deploy import images, model, render
from tests.deploy.conftest import REPO, kustomize


def test_committed_files_equal_the_generator_output() -> None:
    problems = render.differences(REPO)
    assert problems == [], "run `mercato render all` and commit the result:\n" + "\n".join(problems)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of the generated trees (deployment, architecture page, contracts) to render into."""
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs/architecture.md", tmp_path / "docs/architecture.md")
    shutil.copytree(REPO / "docs/contracts", tmp_path / "docs/contracts")
    return tmp_path


@pytest.fixture
def catalog_with_wishlist(monkeypatch: pytest.MonkeyPatch) -> catalog.Service:
    """The catalog plus one new service, as a later issue would add it."""
    wishlist = catalog.Service(
        name="wishlist",
        summary="Saved products",
        port=8199,
        database="mercato_wishlist",
        depends_on=("user",),
        consumes=("user.registered",),
        route_prefixes=(catalog.API_PREFIX + "/wishlists",),
        buckets=("wishlist-exports",),
    )
    services = {**catalog.SERVICES, "wishlist": wishlist}
    monkeypatch.setattr(catalog, "SERVICES", services)
    return wishlist


def test_a_new_catalog_service_is_deployed_everywhere_by_rendering(
    scratch_repo: Path, catalog_with_wishlist: catalog.Service
) -> None:
    render.write(scratch_repo)
    objects = kustomize(scratch_repo / "deploy" / "k8s" / "overlays" / "prod")
    named = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for kind, name in [
        ("Deployment", "wishlist"),
        ("Service", "wishlist"),
        ("ServiceAccount", "wishlist"),
        ("Job", "wishlist-migrate"),
        ("NetworkPolicy", "wishlist"),
        ("HorizontalPodAutoscaler", "wishlist"),
        ("PodDisruptionBudget", "wishlist"),
        ("ServiceMonitor", "wishlist"),
        ("ExternalSecret", "wishlist-db-app"),
        # Its bucket is on AWS S3 in prod: an IRSA role, and no secret holding S3 keys.
        ("NetworkPolicy", "wishlist-object-storage"),
    ]:
        assert (kind, name) in named
    assert ("ExternalSecret", "wishlist-secrets") not in named
    (account,) = [
        o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "wishlist"
    ]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/mercato-prod-wishlist"
    )
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}
    egress_to = {
        peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in policies["wishlist"]["spec"]["egress"]
        for peer in rule.get("to", [])
        if "podSelector" in peer
    }
    assert {"user", "auth", "nats", "minio"} <= egress_to
    compose = yaml.safe_load((scratch_repo / "deploy/compose/compose.yaml").read_text())
    assert {"wishlist", "wishlist-migrate"} <= set(compose["services"])
    sql = (scratch_repo / "deploy/compose/postgres-init/10-databases.sql").read_text()
    assert '"mercato_wishlist"' in sql
    tf = (scratch_repo / "deploy/terraform/modules/catalog/main.tf.json").read_text()
    assert '"wishlist"' in tf
    assert '"mercato-prod-wishlist-exports"' in tf


def test_a_removed_service_leaves_no_stale_file(
    scratch_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = list(catalog.SERVICES)[-1]
    monkeypatch.setattr(
        catalog, "SERVICES", {k: v for k, v in catalog.SERVICES.items() if k != last}
    )
    render.write(scratch_repo)
    assert not (scratch_repo / f"deploy/k8s/base/{last}.yaml").exists()
    assert render.differences(scratch_repo) == []


def test_release_tags_survive_rendering_and_promotion_copies_them(scratch_repo: Path) -> None:
    images.set_tag(
        scratch_repo,
        "dev",
        "20260101-120000-abc1234",
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
    )
    render.write(scratch_repo)
    dev = kustomize(scratch_repo / "deploy/k8s/overlays/dev")
    gateway = next(
        o for o in dev if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
    )
    assert gateway["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/mercato/gateway:20260101-120000-abc1234"
    )
    images.promote(scratch_repo, "dev", "stg")
    read = images.images_path
    assert read(scratch_repo, "stg").read_text() == read(scratch_repo, "dev").read_text()
    with pytest.raises(ValueError, match="dev -> stg -> prod"):
        images.promote(scratch_repo, "dev", "prod")


def test_render_check_reports_a_hand_edit(scratch_repo: Path) -> None:
    target = scratch_repo / "deploy/k8s/base/gateway.yaml"
    target.write_text(target.read_text().replace("125m", "100m"))
    assert render.differences(scratch_repo) == ["differs: deploy/k8s/base/gateway.yaml"]


def test_generator_never_imports_a_service_statically() -> None:
    for path in (REPO / "src/mercato/deploy").glob("*.py"):
        text = path.read_text()
        assert "mercato.services" not in text, path
        assert "import mercato.runner" not in text, path
        assert "from mercato.runner" not in text, path


def test_rules_and_dashboards_from_deploy_monitoring_are_wired(scratch_repo: Path) -> None:
    rules = scratch_repo / "deploy/monitoring/prometheus"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "availability.yml").write_text(
        "groups:\n- name: availability\n  rules:\n  - alert: ServiceDown\n"
        "    expr: up == 0\n    for: 2m\n"
    )
    dashboards = scratch_repo / "deploy/monitoring/grafana"
    dashboards.mkdir(parents=True, exist_ok=True)
    (dashboards / "scratch.json").write_text('{"title": "Mercato scratch", "panels": []}')
    render.write(scratch_repo)
    objects = kustomize(scratch_repo / "deploy/k8s/overlays/prod")
    rule = next(
        o
        for o in objects
        if o["kind"] == "PrometheusRule" and o["metadata"]["name"] == "mercato-availability"
    )
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"][0]["rules"][0]["alert"] == "ServiceDown"
    dashboard = next(
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "mercato-dashboard-scratch"
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "Mercato scratch" in dashboard["data"]["scratch.json"]


def test_promotion_to_prod_leaves_the_load_generator_behind(scratch_repo: Path) -> None:
    images.set_tag(scratch_repo, "stg", "20260101-120000-abc1234")
    assert model.LOAD_GENERATOR_IMAGE in images.images_path(scratch_repo, "stg").read_text()
    images.promote(scratch_repo, "stg", "prod")
    prod = images.images_path(scratch_repo, "prod").read_text()
    assert "20260101-120000-abc1234" in prod
    assert model.LOAD_GENERATOR_IMAGE not in prod
