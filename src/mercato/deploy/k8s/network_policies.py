"""The ``network-policies`` component: deny by default, DNS, the catalog's edges and engines."""

from __future__ import annotations

from mercato import catalog
from mercato.deploy import model
from mercato.deploy.k8s.objects import (
    MONITORING_NAMESPACE,
    NAME_LABEL,
    ROOT,
    Files,
    Obj,
    component,
    database_engine_peer,
    namespace_peer,
    network_policy,
    peer,
    tcp,
)
from mercato.deploy.model import Deployable


def service_policy(service: Deployable) -> Obj:
    """Who may call the service, and what the service may reach."""
    name = service.name
    callers = catalog.dependents(name)
    ingress: list[Obj] = []
    if name == "gateway":
        # The public entry: the load balancer reaches it from outside the cluster.
        ingress.append({"ports": tcp(model.CONTAINER_PORT)})
    elif callers:
        ingress.append({"from": [peer(c) for c in callers], "ports": tcp(model.CONTAINER_PORT)})
    ingress.append(
        {"from": [namespace_peer(MONITORING_NAMESPACE)], "ports": tcp(model.CONTAINER_PORT)}
    )
    egress: list[Obj] = [
        {"to": [peer(callee)], "ports": tcp(model.CONTAINER_PORT)}
        for callee in catalog.sync_dependencies(name)
    ]
    egress += engine_egress(service)
    return network_policy(name, {NAME_LABEL: name}, ingress=ingress, egress=egress)


def engine_egress(service: Deployable) -> list[Obj]:
    """Egress to the in-cluster engines the service needs (external-db adds RDS)."""
    rules: list[Obj] = []
    for engine in model.ENGINE_PORTS:
        if not service.reaches(engine):
            continue
        port = model.ENGINE_PORTS[engine]
        if engine == "postgres":
            rules.append({"to": [database_engine_peer(service)], "ports": tcp(port)})
        elif engine == "nats":
            rules.append({"to": [peer("nats")], "ports": tcp(port)})
        elif engine == "s3":
            rules.append({"to": [peer("minio")], "ports": tcp(port)})
        elif engine == "smtp":
            # The relay is outside the cluster; submission port only.
            rules.append({"ports": tcp(port)})
    return rules


def network_policies() -> Files:
    """Default deny, DNS, and one allow rule per catalog edge and engine."""
    objects: list[Obj] = [
        network_policy("default-deny", {}, ingress=[], egress=[]),
        network_policy(
            "allow-dns",
            {},
            egress=[
                {
                    "to": [
                        {
                            **namespace_peer("kube-system"),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
    ]
    for service in model.services():
        objects.append(service_policy(service))
        if service.spec.database:
            objects.append(
                network_policy(
                    f"{service.name}-migrate",
                    {NAME_LABEL: f"{service.name}-migrate"},
                    ingress=[],
                    egress=[
                        {
                            "to": [database_engine_peer(service)],
                            "ports": tcp(model.ENGINE_PORTS["postgres"]),
                        }
                    ],
                )
            )
    path = f"{ROOT}/components/network-policies"
    return {
        f"{path}/policies.yaml": objects,
        f"{path}/kustomization.yaml": component(resources=["policies.yaml"]),
    }
