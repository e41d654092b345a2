"""Resources and autoscaling follow the sizing table (docs/deploy.md "Sizing", ADR 0040)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mercato import catalog
from mercato.deploy import sizing
from tests.deploy.conftest import ENVIRONMENTS, REPO
from tests.deploy.test_kubernetes import by_name, containers, pod_spec

Obj = dict[str, Any]
SERVICE_IMAGE_CONTAINER = 0

UNITS = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def quantity(value: str) -> float:
    """A Kubernetes quantity (``250m``, ``224Mi``, ``1``) as a number."""
    for suffix, factor in UNITS.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def service_container(deployment: Obj) -> Obj:
    """The service's own container of its Deployment."""
    return pod_spec(deployment)["containers"][SERVICE_IMAGE_CONTAINER]


def test_every_service_is_measured_and_sized() -> None:
    assert set(sizing.SERVICES) == set(catalog.SERVICES)
    assert set(sizing.SIZING) == set(catalog.SERVICES)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_requests_no_more_than_its_limits(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    for workload, container in containers(overlays[env]):
        resources = container["resources"]
        for part in ("cpu", "memory"):
            request = quantity(resources["requests"][part])
            limit = quantity(resources["limits"][part])
            assert 0 < request <= limit, (workload["metadata"]["name"], container["name"], part)


def test_prod_resources_are_the_sizing_tables(overlays: dict[str, list[Obj]]) -> None:
    deployments = by_name(overlays["prod"], "Deployment")
    for name, sized in sizing.SIZING.items():
        resources = service_container(deployments[name])["resources"]
        assert resources == {"requests": sized.requests, "limits": sized.limits}, name


def test_prod_hpa_targets_and_maxima_are_the_sizing_tables(
    overlays: dict[str, list[Obj]],
) -> None:
    hpas = by_name(overlays["prod"], "HorizontalPodAutoscaler")
    for name, sized in sizing.SIZING.items():
        spec = hpas[name]["spec"]
        targets = {
            m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
            for m in spec["metrics"]
        }
        assert targets == {"cpu": sized.cpu_target, "memory": sized.memory_target}, name
        assert spec["minReplicas"] == sizing.MIN_REPLICAS
        assert spec["maxReplicas"] == sized.max_replicas
        assert spec["maxReplicas"] >= sizing.replicas_at(sized, sizing.PEAK_CHECKOUTS)


def test_sized_limits_keep_the_measured_headroom() -> None:
    for name, sized in sizing.SIZING.items():
        peak = max(f.peak_rss_mib for f in sizing.families_of(name))
        assert sized.memory_request_mi >= peak, name
        assert sized.memory_limit_mi >= peak * sizing.MEMORY_HEADROOM, name
        # The budget was measured at 250m: no replica gets less room to burst than that.
        assert sized.cpu_limit_m >= sizing.CPU_CEILING, name
        assert sizing.CPU_FLOOR <= sized.cpu_request_m <= sized.cpu_limit_m, name
        # The memory metric fires near the limit, never at an idle replica's RSS.
        at_target = sized.memory_request_mi * sized.memory_target / 100
        assert peak < at_target <= sized.memory_limit_mi, name


def test_requests_cover_the_expected_load_at_the_hpa_target() -> None:
    for name, sized in sizing.SIZING.items():
        replicas = sizing.replicas_at(sized, sizing.EXPECTED_CHECKOUTS)
        capacity = replicas * sized.cpu_request_m / 1000 * sized.cpu_target / 100
        assert capacity >= sizing.cores_at(name, sizing.EXPECTED_CHECKOUTS), name


def test_docs_carry_the_sizing_tables() -> None:
    page = Path(REPO / "docs" / "deploy.md").read_text()
    assert sizing.markdown() in page, "paste sizing.markdown() into docs/deploy.md (## Sizing)"
