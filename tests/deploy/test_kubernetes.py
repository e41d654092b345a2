"""The built overlays keep every operational promise the architecture makes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from mercato import catalog
from mercato.deploy import model, tracing
from mercato.deploy.environments import ENVIRONMENTS as ENV_SETTINGS
from tests.deploy.conftest import COMPONENTS, ENVIRONMENTS, K8S, kustomize

Obj = dict[str, Any]
WORKLOADS = {"Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
# Custom resources: their schemas come with their operators, not with Kubernetes.
CRD_GROUPS = ("monitoring.coreos.com/", "external-secrets.io/", "postgresql.cnpg.io/")
# The environment ConfigMap gives every service these, whether it uses them or not; the
# tracing component adds the OTEL_* variables to every service.
ENVIRONMENT_WIDE = {
    "MERCATO_LOG_LEVEL",
    "MERCATO_S3_PUBLIC_ENDPOINT",
    "MERCATO_EVENT_STREAM_REPLICAS",
    *tracing.SERVICE_ENV,
    *tracing.sampler_env(0.5),
}
KUBERNETES_VERSION = "1.32.0"  # the EKS version in deploy/terraform


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    """Objects of one kind."""
    return [o for o in objects if o["kind"] == kind]


def pod_spec(obj: Obj) -> Obj:
    """The pod template's spec of a workload."""
    return obj["spec"]["template"]["spec"]


def containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    """Every (workload, container), init containers included."""
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            spec = pod_spec(obj)
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield obj, container


def by_name(objects: list[Obj], kind: str) -> dict[str, Obj]:
    """Objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_component_builds_alone(component: str, tmp_path: Path) -> None:
    """Each component on top of the base alone, without an overlay's help."""
    relative = Path(os.path.relpath(K8S, tmp_path))
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n- {relative / 'base'}\n"
        f"components:\n- {relative / 'components' / component}\n"
    )
    assert kustomize(tmp_path)


def test_base_builds_alone() -> None:
    assert of_kind(kustomize(K8S / "base"), "Deployment")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_validates_strictly(env: str, overlays: dict[str, list[Obj]]) -> None:
    errors = []
    for obj in overlays[env]:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert errors == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_is_probed_sized_and_hardened(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    problems = []
    for workload, container in containers(overlays[env]):
        where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
        if workload["kind"] in LONG_RUNNING:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    problems.append(f"{where}: no {probe}")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            if set(resources.get(part, {})) != {"cpu", "memory"}:
                problems.append(f"{where}: {part} must name cpu and memory")
        security = container.get("securityContext", {})
        pod = pod_spec(workload).get("securityContext", {})
        expected = {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
        }
        for key, value in expected.items():
            if security.get(key) != value:
                problems.append(f"{where}: securityContext.{key} must be {value}")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: must drop ALL capabilities")
        if security.get("capabilities", {}).get("add"):
            problems.append(f"{where}: adds capabilities")
        if (security.get("seccompProfile") or pod.get("seccompProfile") or {}).get(
            "type"
        ) != "RuntimeDefault":
            problems.append(f"{where}: seccomp must be RuntimeDefault")
        uid = security.get("runAsUser", pod.get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            problems.append(f"{where}: needs a numeric non-zero runAsUser")
        image = container["image"]
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            problems.append(f"{where}: image {image} is not pinned to a tag")
    assert problems == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_deployments_follow_the_catalog(env: str, overlays: dict[str, list[Obj]]) -> None:
    objects = overlays[env]
    deployments = by_name(objects, "Deployment")
    services = by_name(objects, "Service")
    accounts = by_name(objects, "ServiceAccount")
    jobs = by_name(objects, "Job")
    config_maps = {o["metadata"]["name"]: o for o in of_kind(objects, "ConfigMap")}
    secrets = {o["metadata"]["name"]: o for o in of_kind(objects, "Secret")}
    assert set(catalog.SERVICES) <= set(deployments)
    for service in model.services():
        deployment = deployments[service.name]
        spec = pod_spec(deployment)
        container = spec["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/health"
        assert container["image"].split(":")[0].endswith(service.image)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "8080"
        assert annotations["prometheus.io/path"] == "/metrics"
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] > pause + model.GRACEFUL_TIMEOUT_SECONDS
        assert spec["automountServiceAccountToken"] is False
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert services[service.name]["spec"]["ports"][0]["port"] == 8080
        assert (f"{service.name}-migrate" in jobs) == bool(service.spec.database)
        env_names = {e["name"] for e in container.get("env", [])}
        for source in container["envFrom"]:
            if "configMapRef" in source:
                env_names |= set(config_maps[source["configMapRef"]["name"]]["data"])
            elif "secretRef" in source and secrets:
                env_names |= set(secrets[source["secretRef"]["name"]]["data"])
        # Secrets outside dev come from ExternalSecrets, which only the cluster resolves.
        irsa = ENV_SETTINGS[env].s3_on_aws
        secret_env = set(service.secret_env_for(web_identity=irsa)) | set(service.smtp_secret_env)
        resolved = env_names if env == "dev" else env_names | secret_env
        assert service.expected_env(web_identity=irsa) <= resolved
        # Behind the ALB, the gateway is also told the one hop it trusts.
        behind_alb = service.name == "gateway" and ENV_SETTINGS[env].host is not None
        allowed = ENVIRONMENT_WIDE | ({"MERCATO_TRUSTED_PROXY_HOPS"} if behind_alb else set())
        assert resolved - service.expected_env(web_identity=irsa) <= allowed
        if env == "dev":
            host = config_maps_value(config_maps, container, "MERCATO_HOST")
            assert host == "0.0.0.0"  # noqa: S104 (containers listen on their interface)


def config_maps_value(config_maps: dict[str, Obj], container: Obj, key: str) -> str | None:
    """The value a container gets for ``key`` from its ConfigMaps."""
    for source in container["envFrom"]:
        if "configMapRef" in source:
            data = config_maps[source["configMapRef"]["name"]]["data"]
            if key in data:
                return str(data[key])
    return None


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_no_secret_with_literal_data_outside_dev(env: str, overlays: dict[str, list[Obj]]) -> None:
    assert of_kind(overlays[env], "Secret") == []
    external = by_name(overlays[env], "ExternalSecret")
    for service in model.services():
        if service.secret_env_for(web_identity=ENV_SETTINGS[env].s3_on_aws):
            assert f"{service.name}-secrets" in external
        if service.spec.database:
            assert f"{service.name}-db-app" in external
    for secret in external.values():
        for source in secret["spec"]["dataFrom"]:
            assert source["extract"]["key"].startswith(f"mercato/{env}/")


def test_dev_secrets_are_recognisably_insecure(overlays: dict[str, list[Obj]]) -> None:
    import base64

    for secret in of_kind(overlays["dev"], "Secret"):
        for key, value in secret["data"].items():
            text = base64.b64decode(value).decode()
            if key != "MERCATO_CLIENT_SECRET" and "USER" not in key and "ACCESS_KEY" not in key:
                assert text.startswith("dev-only-insecure-"), key


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_namespace_enforces_restricted_and_denies_by_default(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    objects = overlays[env]
    (namespace,) = of_kind(objects, "Namespace")
    assert namespace["metadata"]["name"] == f"mercato-{env}"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {f"mercato-{env}"}
    deny = by_name(objects, "NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not deny.get("ingress")
    assert not deny.get("egress")


def selected_name(policy: Obj) -> str | None:
    """The workload a policy selects by name label."""
    return policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")


def peers_named(rules: list[Obj], key: str, port: int) -> set[str]:
    """Workload names a list of rules admits on ``port``."""
    names = set()
    for rule in rules:
        if port not in {p["port"] for p in rule.get("ports", [])}:
            continue
        for peer in rule.get(key, []):
            name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if name and "namespaceSelector" not in peer:
                names.add(name)
    return names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_policies_equal_the_catalog_graph(env: str, overlays: dict[str, list[Obj]]) -> None:
    policies = [
        p for p in of_kind(overlays[env], "NetworkPolicy") if selected_name(p) in catalog.SERVICES
    ]
    allowed_by_egress = set()
    allowed_by_ingress = set()
    for policy in policies:
        name = selected_name(policy)
        spec = policy["spec"]
        for callee in peers_named(spec.get("egress", []), "to", 8080):
            allowed_by_egress.add((name, callee))
        for caller in peers_named(spec.get("ingress", []), "from", 8080):
            allowed_by_ingress.add((caller, name))
    edges = set(catalog.edges())
    assert allowed_by_egress == edges
    # Infrastructure calling a service: only the collector, forwarding logs to log (ADR 0033).
    assert {(a, b) for a, b in allowed_by_ingress if a not in catalog.SERVICES} == {
        ("otel-collector", "log")
    }
    # The gateway admits everyone (it is the public entry), so no named callers there.
    assert {(a, b) for a, b in allowed_by_ingress if a in catalog.SERVICES} == {
        (a, b) for a, b in edges if b != "gateway"
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_engine_rules_follow_the_catalog(env: str, overlays: dict[str, list[Obj]]) -> None:
    policies = by_name(overlays[env], "NetworkPolicy")
    for service in model.services():
        egress = policies[service.name]["spec"]["egress"]
        ports = {p["port"] for rule in egress for p in rule.get("ports", [])}
        for engine in ("postgres", "nats", "s3", "smtp"):
            # An engine the service needs, or one it probes (health: NATS and MinIO).
            assert (model.ENGINE_PORTS[engine] in ports) == service.reaches(engine), (
                service.name,
                engine,
            )
    nats_users = peers_named(policies["nats"]["spec"]["ingress"], "from", 4222)
    assert nats_users == {s.name for s in model.services() if s.reaches("nats")}
    assert "health" in nats_users
    dns = policies["allow-dns"]["spec"]
    assert dns["podSelector"] == {}
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}


def test_prod_has_pdb_hpa_and_spread_for_every_service(overlays: dict[str, list[Obj]]) -> None:
    objects = overlays["prod"]
    hpas = by_name(objects, "HorizontalPodAutoscaler")
    pdbs = by_name(objects, "PodDisruptionBudget")
    deployments = by_name(objects, "Deployment")
    for name in catalog.SERVICES:
        hpa = hpas[name]["spec"]
        assert hpa["minReplicas"] >= 2
        assert hpa["maxReplicas"] > hpa["minReplicas"]
        assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert "replicas" not in deployments[name]["spec"]  # the HPA owns it
        spread = pod_spec(deployments[name])["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
    assert by_name(objects, "StatefulSet")["nats"]["spec"]["replicas"] == 3


def test_replicas_per_environment(overlays: dict[str, list[Obj]]) -> None:
    for env in ("dev", "stg"):
        for name, deployment in by_name(overlays[env], "Deployment").items():
            assert deployment["spec"]["replicas"] == ENV_SETTINGS[env].replicas_of(name)
            assert 1 <= deployment["spec"]["replicas"] <= (1 if env == "dev" else 2)
    assert by_name(overlays["dev"], "StatefulSet")["nats"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("env", ["stg", "prod"])
def test_alb_ingress_terminates_tls_and_redirects(env: str, overlays: dict[str, list[Obj]]) -> None:
    (ingress,) = of_kind(overlays[env], "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    backends = {
        r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
    }
    assert backends[ENV_SETTINGS[env].host] == "gateway"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_gateway_trusts_exactly_the_one_hop_the_alb_appends(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    config_maps = by_name(overlays[env], "ConfigMap")
    gateway = pod_spec(by_name(overlays[env], "Deployment")["gateway"])["containers"][0]
    hops = config_maps_value(config_maps, gateway, "MERCATO_TRUSTED_PROXY_HOPS")
    ingresses = of_kind(overlays[env], "Ingress")
    if not ingresses:  # nothing in front of the gateway: the socket peer is the client
        assert hops is None
        return
    assert hops == "1"
    attributes = ingresses[0]["metadata"]["annotations"][
        "alb.ingress.kubernetes.io/load-balancer-attributes"
    ].split(",")
    assert "routing.http.xff_header_processing.mode=append" in attributes
    assert "routing.http.xff_client_port.enabled=false" in attributes


def test_volumes_are_persistent_claims(overlays: dict[str, list[Obj]]) -> None:
    for env in ENVIRONMENTS:
        for statefulset in of_kind(overlays[env], "StatefulSet"):
            claims = [c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]]
            assert claims == ["data"]
            volumes = {v["name"] for v in pod_spec(statefulset).get("volumes", [])}
            assert "data" not in volumes  # the claim, never an emptyDir


def test_buckets_job_creates_every_catalog_bucket(overlays: dict[str, list[Obj]]) -> None:
    job = by_name(overlays["dev"], "Job")["minio-buckets"]
    script = pod_spec(job)["containers"][0]["command"][-1]
    for service in model.services():
        for bucket in service.buckets:
            assert f"mc mb --ignore-existing mercato/{bucket}" in script


def test_monitoring_is_wired_for_kube_prometheus_stack(overlays: dict[str, list[Obj]]) -> None:
    monitors = by_name(overlays["prod"], "ServiceMonitor")
    assert set(monitors) == set(catalog.SERVICES)
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_images_are_the_same_names_in_every_environment(overlays: dict[str, list[Obj]]) -> None:
    for env in ENVIRONMENTS:
        for name, deployment in by_name(overlays[env], "Deployment").items():
            if name not in catalog.SERVICES:
                continue  # the tracing component's collector
            image = pod_spec(deployment)["containers"][0]["image"]
            assert image.rsplit(":", 1)[0].endswith(f"mercato/{name}")


# -- object storage on AWS S3 through IRSA (docs/adr/0024) -------------------------------


@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if ENV_SETTINGS[e].s3_on_aws])
def test_services_with_buckets_reach_aws_s3_through_their_irsa_role_without_a_static_key(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    settings = ENV_SETTINGS[env]
    objects = overlays[env]
    accounts = by_name(objects, "ServiceAccount")
    workloads = {**by_name(objects, "Deployment"), **by_name(objects, "Job")}
    config_maps = {o["metadata"]["name"]: o for o in of_kind(objects, "ConfigMap")}
    external = by_name(objects, "ExternalSecret")
    policies = by_name(objects, "NetworkPolicy")
    users = {s.name for s in model.with_engine("s3")}
    assert users == {"user", "product"}
    for name in users:
        annotations = accounts[name]["metadata"].get("annotations", {})
        assert annotations["eks.amazonaws.com/role-arn"] == (
            f"arn:aws:iam::{settings.account_id}:role/mercato-{env}-{name}"
        )
        for workload in (name, f"{name}-migrate"):
            spec = pod_spec(workloads[workload])
            assert spec["serviceAccountName"] == name
            container = spec["containers"][0]
            assert not [s for s in container["envFrom"] if "secretRef" in s], workload
            assert not [e for e in container.get("env", []) if "S3" in e["name"]], workload
            endpoint = config_maps_value(config_maps, container, "MERCATO_S3_ENDPOINT")
            assert endpoint == f"https://s3.{settings.region}.amazonaws.com"
            region = config_maps_value(config_maps, container, "MERCATO_S3_REGION")
            assert region == settings.region
            prefix = config_maps_value(config_maps, container, "MERCATO_S3_BUCKET_PREFIX")
            assert prefix == settings.bucket_prefix
        assert f"{name}-secrets" not in external
        egress = policies[f"{name}-object-storage"]["spec"]["egress"]
        assert egress == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp443()}]
    # Nobody else gets an IRSA role, and MinIO (with its root key) is not deployed at all.
    annotated = {n for n, a in accounts.items() if a["metadata"].get("annotations")}
    assert annotated == users
    assert "minio" not in by_name(objects, "StatefulSet")
    assert "minio-credentials" not in external
    container = pod_spec(workloads["user"])["containers"][0]
    public = config_maps_value(config_maps, container, "MERCATO_S3_PUBLIC_ENDPOINT")
    assert public == f"https://s3.{settings.region}.amazonaws.com"


def tcp443() -> list[Obj]:
    return [{"protocol": "TCP", "port": 443}]


@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if not ENV_SETTINGS[e].s3_on_aws])
def test_environments_on_minio_keep_static_keys_and_no_irsa_role(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    objects = overlays[env]
    accounts = by_name(objects, "ServiceAccount")
    assert not [n for n, a in accounts.items() if a["metadata"].get("annotations")]
    assert "minio" in by_name(objects, "StatefulSet")
    deployments = by_name(objects, "Deployment")
    for service in model.with_engine("s3"):
        sources = pod_spec(deployments[service.name])["containers"][0]["envFrom"]
        secrets = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
        # dev's secretGenerator adds a content hash to the name.
        assert [n for n in secrets if n.startswith(f"{service.name}-secrets")], service.name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_prober_names_engines_that_exist_on_the_ports_they_serve(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    config_maps = by_name(overlays[env], "ConfigMap")
    services = by_name(overlays[env], "Service")
    for service in model.services():
        if not service.spec.probes_all:
            continue
        container = pod_spec(by_name(overlays[env], "Deployment")[service.name])["containers"][0]
        probes = json.loads(
            config_maps_value(config_maps, container, "MERCATO_ENGINE_PROBES") or ""
        )
        assert set(probes) == {"nats", "s3"}
        if ENV_SETTINGS[env].s3_on_aws:
            # No MinIO there: the prober checks the AWS S3 endpoint the services use.
            assert probes.pop("s3") == ENV_SETTINGS[env].s3_endpoint
            egress = by_name(overlays[env], "NetworkPolicy")[f"{service.name}-object-storage"]
            assert egress["spec"]["egress"][0]["ports"] == tcp443()
        for address in probes.values():
            parts = urlsplit(address)
            assert parts.hostname in services, address
            served = {p["port"] for p in services[parts.hostname]["spec"]["ports"]}
            assert parts.port in served, address


# -- the load generator (dev and stg only) -----------------------------------------------


def load_generator_objects(objects: list[Obj]) -> list[Obj]:
    """Objects of the loadgenerator component, and any image reference to it."""
    found = [o for o in objects if o["metadata"]["name"].startswith(model.LOAD_GENERATOR)]
    found += [
        workload
        for workload, container in containers(objects)
        if model.LOAD_GENERATOR_IMAGE in container["image"]
    ]
    return found


def test_prod_has_no_load_generator(overlays: dict[str, list[Obj]]) -> None:
    assert ENV_SETTINGS["prod"].load_generator is None
    assert load_generator_objects(overlays["prod"]) == []
    images = (K8S / "overlays" / "prod" / "images" / "kustomization.yaml").read_text()
    assert model.LOAD_GENERATOR_IMAGE not in images


@pytest.mark.parametrize("env", ["dev", "stg"])
def test_the_load_generator_shops_at_the_gateway_from_its_config_map(
    env: str, overlays: dict[str, list[Obj]]
) -> None:
    objects = overlays[env]
    deployment = by_name(objects, "Deployment")[model.LOAD_GENERATOR]
    (container,) = pod_spec(deployment)["containers"]
    assert container["image"].rsplit(":", 1)[0].endswith(model.LOAD_GENERATOR_IMAGE)
    script = " ".join(container["command"])
    assert "exec mercato load" in script
    for option, variable in (
        ("--host", "MERCATO_LOAD_HOST"),
        ("--users", "MERCATO_LOAD_USERS"),
        ("--spawn-rate", "MERCATO_LOAD_SPAWN_RATE"),
        ("--run-time", "MERCATO_LOAD_RUN_TIME"),
    ):
        assert f'{option} "${variable}"' in script
    (source,) = container["envFrom"]
    config = by_name(objects, "ConfigMap")[source["configMapRef"]["name"]]["data"]
    wanted = ENV_SETTINGS[env].load_generator
    assert wanted is not None
    assert config == {"MERCATO_LOAD_HOST": "http://gateway:8080", **wanted.config()}
    # The host is the gateway's in-cluster Service, on the port it serves.
    gateway = by_name(objects, "Service")["gateway"]
    assert gateway["spec"]["ports"][0]["port"] == 8080
    # The one writable path is the report's: the root filesystem is read-only.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp"}
    assert "--data-dir /tmp/" in script
    # It reaches the gateway and nothing else; nothing reaches it.
    policy = by_name(objects, "NetworkPolicy")[model.LOAD_GENERATOR]["spec"]
    assert policy["ingress"] == []
    assert peers_named(policy["egress"], "to", 8080) == {"gateway"}
    assert len(policy["egress"]) == 1
