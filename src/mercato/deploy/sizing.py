"""Per-service requests, limits and HPA targets, derived from what one seed replica sustains.

The figures come from ``bench/budget.py`` (one replica capped at 250m CPU / 256 MiB in a
cgroup, open-model rate steps until p99 > 250 ms; docs/BENCHMARKS.md, "The seed's
budget"). The traffic model says how many requests of each route family one checkout
brings; the rules below turn both into resources (docs/deploy.md "Sizing", ADR 0040).
Re-measure after a change that moves a service's CPU per request, paste the figures in
``MEASURED``, run ``mercato render all`` and paste ``markdown()`` into docs/deploy.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One route family as the seed's budget measured it, and its share of the traffic."""

    service: str
    name: str
    sustained_per_second: float  # per 250m replica at p99 <= 250 ms
    cpu_ms: float  # CPU ms per request in the service
    peak_rss_mib: float  # peak RSS of the replica during its families
    per_checkout: float  # requests of this family per checkout (the traffic model)


# bench/budget.py --quick, 2026-12-02 18:30-18:34 UTC, main cffd54c (issue 11's levers merged),
# quiet machine, load 1.35 -> 0.50.
MEASURED: tuple[Family, ...] = (
    Family("product", "product-list", 192.0, 1.33, 106, 10),
    Family("product", "product-by-id", 224, 0.94, 106, 10),
    Family("auth", "auth-login", 7.5, 31.7, 141, 0.5),
    Family("auth", "auth-refresh", 74.5, 3.74, 143, 1),
    Family("auth", "auth-jwks", 634, 0.49, 149, 0),
    Family("order", "cart", 35.0, 6.71, 105, 2),
    Family("order", "checkout", 4.0, 30.0, 105, 1),
    Family("payment", "payment-charge", 46.0, 7.18, 106, 1),
    Family("inventory", "inventory-read", 163, 1.49, 107, 5),
    Family("inventory", "inventory-reserve", 94.5, 3.42, 108, 2),
    Family("gateway", "gateway", 386, 0.7, 105, 37.5),
    Family("review", "review", 140, 1.73, 105, 5),
    Family("user", "user", 96.5, 2.95, 102, 1),
    Family("notification", "notification", 128, 1.92, 105, 1),
    Family("analytics", "analytics", 136, 1.9, 106, 0.05),
    Family("log", "log", 108.5, 2.46, 108, 0.05),
    Family("health", "health", 401, 0.59, 103, 0),
)

SERVICES = tuple(dict.fromkeys(f.service for f in MEASURED))

EXPECTED_CHECKOUTS = 10.0  # per second: the load requests are set for
PEAK_CHECKOUTS = 50.0  # per second: the load maxReplicas must reach
MIN_REPLICAS = 2
CPU_TARGET = 70  # % of the request at which the HPA adds a replica (30 % for the lag)
CPU_TARGET_FLOOR = 30
CPU_STEP = 25  # millicores
CPU_FLOOR = 50  # event consumers, outbox relays, probes and scrapes run without traffic
CPU_CEILING = 250  # the seed's limit: the unit the budget was measured in
MEMORY_HEADROOM = 2.0  # limit = peak RSS x this (Python's heap does not shrink)
MEMORY_TARGET_OF_LIMIT = 0.9  # the HPA's memory metric fires near the limit, not at idle


@dataclass(frozen=True)
class Sizing:
    """One service's resources and autoscaling."""

    service: str
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_mi: int
    memory_limit_mi: int
    cpu_target: int
    memory_target: int
    max_replicas: int

    @property
    def requests(self) -> dict[str, str]:
        """The container's requests."""
        return {"cpu": f"{self.cpu_request_m}m", "memory": f"{self.memory_request_mi}Mi"}

    @property
    def limits(self) -> dict[str, str]:
        """The container's limits."""
        return {"cpu": f"{self.cpu_limit_m}m", "memory": f"{self.memory_limit_mi}Mi"}


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def families_of(service: str) -> list[Family]:
    """The measured families of ``service``."""
    return [f for f in MEASURED if f.service == service]


def cpu_ms_per_checkout(service: str) -> float:
    """CPU ms ``service`` spends per checkout under the traffic model."""
    return sum(f.cpu_ms * f.per_checkout for f in families_of(service))


def cores_at(service: str, checkouts: float) -> float:
    """Cores ``service`` needs at ``checkouts`` per second (its route families only)."""
    return cpu_ms_per_checkout(service) * checkouts / 1000


def replicas_at(sizing: Sizing, checkouts: float) -> int:
    """Replicas the HPA settles on at ``checkouts`` per second."""
    per_replica = sizing.cpu_request_m / 1000 * sizing.cpu_target / 100
    return max(MIN_REPLICAS, math.ceil(cores_at(sizing.service, checkouts) / per_replica))


def checkouts_per_replica(service: str) -> float:
    """Checkouts/s one 250m replica kept within p99 <= 250 ms, its families mixed."""
    load = sum(f.per_checkout / f.sustained_per_second for f in families_of(service))
    return 1 / load if load else math.inf


def knee_m(service: str) -> float:
    """Millicores one replica used at the highest rate it kept within the p99 budget."""
    return checkouts_per_replica(service) * cpu_ms_per_checkout(service)


def size(service: str) -> Sizing:
    """The rules of docs/deploy.md "Sizing" applied to one service."""
    # Request: the steady CPU of one of the minimum replicas at the expected load, as the
    # HPA sees it (at its target), between the floor and the measured unit.
    steady = cores_at(service, EXPECTED_CHECKOUTS) * 1000 / MIN_REPLICAS / (CPU_TARGET / 100)
    cpu_request = min(CPU_CEILING, max(CPU_FLOOR, _round_up(steady, CPU_STEP)))
    # Limit: twice the request and never below the measured unit, so a burst is not
    # throttled into the p99 (a 100 ms CFS period at 250m stalls up to 75 ms).
    cpu_limit = max(CPU_CEILING, 2 * cpu_request)
    peak = max(f.peak_rss_mib for f in families_of(service))
    memory_request = _round_up(peak, 16)
    memory_limit = _round_up(peak * MEMORY_HEADROOM, 32)
    memory_target = int(MEMORY_TARGET_OF_LIMIT * memory_limit / memory_request * 100)
    # Target: 70 %, or lower where the replica's p99 broke the budget before its CPU did
    # (order: the saga waits on three services), so the HPA adds replicas before that.
    knee = knee_m(service) / cpu_request * 100
    cpu_target = int(max(CPU_TARGET_FLOOR, min(CPU_TARGET, knee // 5 * 5)))
    draft = Sizing(
        service, cpu_request, cpu_limit, memory_request, memory_limit, cpu_target, memory_target, 0
    )
    max_replicas = max(MIN_REPLICAS + 1, replicas_at(draft, PEAK_CHECKOUTS))
    return dataclasses.replace(draft, max_replicas=max_replicas)


SIZING: dict[str, Sizing] = {service: size(service) for service in SERVICES}


# -- the cluster a shop of N checkouts/s needs -----------------------------------------

NODE_TYPE = "t3.medium"  # deploy/terraform/modules/eks
NODE_PRICE_PER_HOUR = 0.048  # USD, on-demand, Linux, eu-central-1
HOURS_PER_MONTH = 730
NODE_BASELINE_VCPU = 0.4  # a t3.medium earns CPU credits for 20 % of its 2 vCPUs
SURPLUS_PRICE_PER_VCPU_HOUR = 0.05  # USD, T3 unlimited mode (the EC2 default for T3)
# What EKS leaves a t3.medium for pods (kube-reserved, system-reserved, eviction) and
# the pods its ENIs allow, minus the per-node DaemonSets (aws-node, kube-proxy, EBS CSI).
NODE_CPU_M = 1930
NODE_MEMORY_MI = 3300
NODE_PODS = 17 - 3
# Beside the services: NATS (3 nodes in prod) and the OpenTelemetry Collector, at the
# engines' requests (src/mercato/deploy/k8s/objects.py); CoreDNS and the controllers.
PLATFORM_CPU_M = 3 * 100 + 100 + 2 * 100 + 300
PLATFORM_MEMORY_MI = 3 * 128 + 128 + 2 * 70 + 600
PLATFORM_PODS = 3 + 1 + 2 + 3


@dataclass(frozen=True)
class Shop:
    """The services' replicas and the nodes under them at one load."""

    checkouts: float
    replicas: dict[str, int]
    cpu_m: int
    memory_mi: int
    pods: int
    nodes: int

    used_cores: float = 0.0

    @property
    def monthly_usd(self) -> float:
        """On-demand cost of the nodes per month."""
        return self.nodes * NODE_PRICE_PER_HOUR * HOURS_PER_MONTH

    @property
    def surplus_usd(self) -> float:
        """T3 unlimited: CPU used above the nodes' 20 % baseline is billed per vCPU-hour."""
        surplus = max(0.0, self.used_cores - self.nodes * NODE_BASELINE_VCPU)
        return surplus * SURPLUS_PRICE_PER_VCPU_HOUR * HOURS_PER_MONTH


def shop(checkouts: float) -> Shop:
    """Replicas per service, requested vCPU and memory, and t3.medium nodes at a load."""
    replicas = {s: replicas_at(SIZING[s], checkouts) for s in SERVICES}
    cpu = sum(n * SIZING[s].cpu_request_m for s, n in replicas.items()) + PLATFORM_CPU_M
    memory = sum(n * SIZING[s].memory_request_mi for s, n in replicas.items())
    memory += PLATFORM_MEMORY_MI
    pods = sum(replicas.values()) + PLATFORM_PODS
    # One node more than the requests need: a zone or node drain, and rolling updates.
    nodes = 1 + max(
        math.ceil(cpu / NODE_CPU_M), math.ceil(memory / NODE_MEMORY_MI), math.ceil(pods / NODE_PODS)
    )
    used = sum(cores_at(s, checkouts) for s in SERVICES)
    return Shop(checkouts, replicas, cpu, memory, pods, nodes, used)


def _per_replica(service: str) -> str:
    rate = checkouts_per_replica(service)
    return "-" if math.isinf(rate) else f"{rate:.1f}"


def markdown() -> str:
    """The tables of docs/deploy.md "Sizing" (a test keeps the page equal to this)."""
    lines = [
        "| service | route family | sustained req/s per 250m replica | CPU ms/request "
        "| peak RSS MiB | requests per checkout |",
        "|---|---|---|---|---|---|",
    ]
    for f in MEASURED:
        lines.append(
            f"| {f.service} | {f.name} | {f.sustained_per_second:g} | {f.cpu_ms:g} "
            f"| {f.peak_rss_mib:g} | {f.per_checkout:g} |"
        )
    lines += [
        "",
        "| service | CPU ms per checkout | checkouts/s per replica in budget | requests | limits "
        "| HPA CPU / memory target | replicas at 10/s | at 50/s (maxReplicas) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    at_expected, at_peak = shop(EXPECTED_CHECKOUTS), shop(PEAK_CHECKOUTS)
    for s in SERVICES:
        z = SIZING[s]
        lines.append(
            f"| {s} | {cpu_ms_per_checkout(s):.1f} | {_per_replica(s)} "
            f"| {z.cpu_request_m}m / {z.memory_request_mi}Mi "
            f"| {z.cpu_limit_m}m / {z.memory_limit_mi}Mi | {z.cpu_target} % / {z.memory_target} % "
            f"| {at_expected.replicas[s]} | {at_peak.replicas[s]} ({z.max_replicas}) |"
        )
    lines += [
        "",
        f"| checkouts/s | service pods | vCPU used by the services | requested vCPU "
        f"| requested GiB | {NODE_TYPE} nodes | on-demand USD/month | T3 surplus USD/month |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for load in (EXPECTED_CHECKOUTS, PEAK_CHECKOUTS):
        c = shop(load)
        lines.append(
            f"| {load:g} | {sum(c.replicas.values())} | {c.used_cores:.2f} | {c.cpu_m / 1000:.2f} "
            f"| {c.memory_mi / 1024:.1f} | {c.nodes} | {c.monthly_usd:,.0f} "
            f"| {c.surplus_usd:,.0f} |"
        )
    return "\n".join(lines) + "\n"
