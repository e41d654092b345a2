r"""What does argon2id cost here, and how many logins per second does auth serve?

Part 1 hashes with a few parameter sets, interleaved over several rounds: the time of
one hash on one thread (median), hashes per second with two threads at once (the whole
machine: argon2-cffi releases the GIL), and the peak memory one hash adds to a fresh
process (VmHWM after minus before).

Part 2 starts PostgreSQL, NATS, auth and the gateway (auth with its default argon2
settings, src/mercato/services/auth/settings.py), registers a few users, and loads
``POST /api/v1/auth/login`` with wrk (a Lua script rotating the users) directly on auth
and through the gateway, at several concurrencies. Every answer must be 200.

Run (wrk comes from Debian: apt-get update && apt-get install -y wrk):

    .venv/bin/python bench/argon2_logins.py --rounds 3 --hashes 10 \
        --duration 10 --concurrency 1,8,32 --json

``--skip-logins`` runs part 1 only (no engines, no wrk).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from _common import (
    PYTHON,
    Processes,
    Series,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    run_wrk,
    write_results,
)
from _platform import start_platform
from mercato.services.auth.settings import Settings as AuthSettings

PASSWORD = "correct horse battery staple"  # noqa: S105 (a throw-away bench account)
USERS = 8


@dataclass(frozen=True)
class Cost:
    """One argon2id parameter set."""

    label: str
    time_cost: int
    memory_kib: int
    parallelism: int

    def hasher(self) -> PasswordHasher:
        """An argon2-cffi hasher with these parameters."""
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )

    @property
    def name(self) -> str:
        """``m=19MiB t=2 p=1``."""
        return f"m={self.memory_kib // 1024}MiB t={self.time_cost} p={self.parallelism}"


def chassis_cost() -> Cost:
    """The parameters auth uses by default."""
    fields = AuthSettings.model_fields
    return Cost(
        "Mercato auth (current)",
        fields["argon2_time_cost"].default,
        fields["argon2_memory_kib"].default,
        fields["argon2_parallelism"].default,
    )


def parameter_sets() -> list[Cost]:
    """The reference sets, with auth's current one marked (or added when it differs)."""
    chosen = chassis_cost()
    same = [cost for cost in COSTS if cost.name == chosen.name]
    if not same:
        return [*COSTS, chosen]
    return [
        Cost(f"{cost.label} = {chosen.label}", cost.time_cost, cost.memory_kib, cost.parallelism)
        if cost in same
        else cost
        for cost in COSTS
    ]


COSTS = (
    Cost("argon2-cffi default (RFC 9106 low-memory)", 3, 64 * 1024, 4),
    Cost("OWASP minimum, 46 MiB", 1, 46 * 1024, 1),
    Cost("OWASP minimum, 19 MiB", 2, 19 * 1024, 1),
)

# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would inherit our own peak.
PEAK_MEMORY_PROBE = """
import re
from argon2 import PasswordHasher
def peak_kib():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
hasher = PasswordHasher(time_cost={t}, memory_cost={m}, parallelism={p})
before = peak_kib()
hasher.hash("probe password")
print(peak_kib() - before)
"""


def peak_memory_mib(cost: Cost) -> float:
    """Memory one hash adds to the peak RSS of a fresh process."""
    code = PEAK_MEMORY_PROBE.format(t=cost.time_cost, m=cost.memory_kib, p=cost.parallelism)
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def time_hashes(cost: Cost, count: int) -> list[tuple[float, float]]:
    """(wall ms, CPU ms) of ``count`` hashes, one after the other, from this thread.

    CPU time counts every thread of the process (libargon2 runs p lanes in p threads)
    and barely moves when other work shares the machine; wall time does.
    """
    hasher = cost.hasher()
    times = []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        hasher.hash(PASSWORD)
        times.append(((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
    return times


def parallel_rate(cost: Cost, count: int, threads: int = 2) -> float:
    """Hashes per second with ``threads`` threads hashing at once."""
    hasher = cost.hasher()
    with ThreadPoolExecutor(threads) as pool:
        began = time.perf_counter()
        list(pool.map(hasher.hash, [PASSWORD] * count))
        return count / (time.perf_counter() - began)


def hashing_costs(costs: list[Cost], rounds: int, count: int) -> list[list[object]]:
    """Part 1: the table rows."""
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    parallel: dict[str, list[float]] = defaultdict(list)
    by_label = {cost.label: cost for cost in costs}
    for round_no, label in interleaved(list(by_label), rounds):
        cost = by_label[label]
        for wall_ms, cpu_ms in time_hashes(cost, count):
            wall[label].append(wall_ms)
            cpu[label].append(cpu_ms)
        parallel[label].append(parallel_rate(cost, 2 * count))
        progress(
            f"round {round_no} {cost.name:20} {statistics.median(wall[label]):7.1f} ms/hash "
            f"(CPU {statistics.median(cpu[label]):6.1f} ms) "
            f"{parallel[label][-1]:6.1f} hashes/s on 2 threads"
        )
    return [
        [
            cost.label,
            cost.name,
            statistics.median(wall[cost.label]),
            statistics.median(cpu[cost.label]),
            statistics.median(parallel[cost.label]),
            2000 / statistics.median(cpu[cost.label]),
            peak_memory_mib(cost),
        ]
        for cost in costs
    ]


LOGIN_SCRIPT = """\
-- Logs in as one of the registered users after another.
local bodies = {bodies}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
"""


def register_users(auth_url: str) -> list[str]:
    """Registers the users to log in as; returns their login bodies."""
    bodies = []
    for i in range(USERS):
        account = {"email": f"bench-{i}@example.com", "password": PASSWORD}
        request = urllib.request.Request(  # noqa: S310 (loopback)
            auth_url + "/api/v1/auth/register",
            data=json.dumps({**account, "name": f"Bench {i}"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.status == 201, response.status
        bodies.append(json.dumps(account))
    return bodies


def lua_table(bodies: list[str]) -> str:
    """A Lua table of string literals."""
    return "{" + ", ".join(json.dumps(body) for body in bodies) + "}"


def logins(
    concurrencies: list[int], paths: list[str], rounds: int, duration: float
) -> tuple[dict[str, Series], dict[str, float]]:
    """Part 2: logins per second through auth (and the gateway)."""
    require("wrk")
    series: dict[str, Series] = {}
    with Processes() as processes:
        platform = start_platform(processes, ("auth", "gateway"))
        auth, gateway = platform.children["auth"], platform.children["gateway"]
        script = Path(processes.workdir) / "login.lua"
        bases = platform.urls
        script.write_text(LOGIN_SCRIPT.format(bodies=lua_table(register_users(bases["auth"]))))
        variants = [f"{path}@{c}" for c in concurrencies for path in paths]
        series = {variant: Series() for variant in variants}
        url = "/api/v1/auth/login"
        run_wrk(bases["auth"] + url, connections=4, duration=2, script=script, timeout=30)
        for round_no, variant in interleaved(variants, rounds):
            path, connections = variant.split("@")
            result = run_wrk(
                bases[path] + url,
                connections=int(connections),
                duration=duration,
                script=script,
                timeout=30,
                watch=[auth, gateway, platform.children["postgres"]],
            )
            series[variant].runs.append(result)
            progress(
                f"round {round_no} {variant:11} {result.requests_per_second:7.1f} logins/s "
                f"p50 {result.p50_ms:7.1f} ms p99 {result.p99_ms:7.1f} ms "
                f"auth CPU {result.cpu_us_per_request('auth') / 1000:5.1f} ms/login "
                f"non-2xx {result.non_2xx} load {result.load_before:.2f}"
            )
        rss = {"auth": auth.rss_mib(), "gateway": gateway.rss_mib()}
        for child in (auth, gateway):
            answers = dict(sorted(child.answers().items()))
            progress(f"{child.name} answered (status: count) {answers}")
            for error in child.errors_logged():
                progress(f"  {child.name} logged: {error}")
    return series, rss


def main() -> int:
    """Runs both parts and prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant")
    parser.add_argument("--hashes", type=int, default=10, help="hashes per set and round")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="1,8,32", help="wrk connection counts")
    parser.add_argument("--paths", default="auth,gateway", help="auth and/or gateway")
    parser.add_argument("--skip-logins", action="store_true", help="only time the hashes")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()

    before = machine_state()
    costs = parameter_sets()
    hash_rows = hashing_costs(costs, args.rounds, args.hashes)
    series: dict[str, Series] = {}
    rss: dict[str, float] = {}
    if not args.skip_logins:
        series, rss = logins(
            [int(c) for c in args.concurrency.split(",")],
            args.paths.split(","),
            args.rounds,
            args.duration,
        )
    after = machine_state()

    if args.json:
        path = write_results(
            "argon2_logins",
            {
                "args": vars(args),
                "before": before,
                "after": after,
                "hashing": hash_rows,
                "logins": series,
                "rss": rss,
            },
        )
        progress(f"wrote {path}")
    print(f"\nargon2id, {args.hashes} hashes x {args.rounds} rounds, medians; {before['uptime']}")
    print_table(
        [
            "parameters",
            "set",
            "wall ms / hash",
            "CPU ms / hash",
            "hashes/s measured (2 threads)",
            "hashes/s if 2 cores were free",
            "peak MiB / hash",
        ],
        hash_rows,
    )
    if series:
        chosen = chassis_cost()
        print(f"\nPOST /api/v1/auth/login with {chosen.name}, {args.duration:g}s x {args.rounds}")
        print_table(
            [
                "path",
                "connections",
                "logins/s",
                "p50 ms",
                "p99 ms",
                "auth CPU ms/login",
                "gateway CPU ms/login",
                "PostgreSQL CPU ms/login",
                "failed",
            ],
            [
                [
                    variant.split("@")[0],
                    variant.split("@")[1],
                    s.median("requests_per_second"),
                    s.median("p50_ms"),
                    s.median("p99_ms"),
                    s.median_cpu_us("auth") / 1000,
                    s.median_cpu_us("gateway") / 1000 if variant.startswith("gateway") else "-",
                    s.median_cpu_us("postgres") / 1000,
                    s.failures,
                ]
                for variant, s in series.items()
            ],
        )
        print("\nRSS after the load (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    return 0


if __name__ == "__main__":
    main_guard(main)
