r"""What does the chassis cost per request? One authenticated route, bare FastAPI against it.

The route is the cheapest a service has that still needs a caller: ``GET /api/v1/bench/me``
takes a customer's bearer token (a real EdDSA access token, signed with a test key that the
servers read as a JWKS, as they read auth's) and answers the caller's id. It is served by:

- ``bare``: FastAPI + uvicorn with the same route and the same token check done naively
  (the key from the JWKS, ``jwt.decode`` with algorithm, ``typ``, ``iss``, ``aud`` and
  ``exp`` checked on every request); no middleware;
- ``bare+cache``: the same, but remembering each token that passed until its ``exp`` (a
  dict), as the chassis does: what is left of the gap is the chassis' layers alone;
- ``chassis``: the Mercato chassis of this tree (``Platform.create_app``: request id,
  trace context, RED metrics, one JSON access-log line to stdout, body limit, NUL refusal,
  problem+json, and the ``CurrentUser`` guard);
- ``chassis@baseline`` (with ``--baseline SRC``): the same chassis app imported from
  another tree's ``src`` (e.g. today's main), so before and after run side by side.

wrk loads one server at a time, 8 connections, interleaved rounds; the table quotes the
medians of req/s, latency and, the figure a busy shared machine disturbs least, the
server's CPU time per request (psutil, before and after each run), with the ratio to bare.

Run (wrk comes from Debian: apt-get update && apt-get install -y wrk):

    .venv/bin/python bench/chassis_overhead.py --duration 5 --rounds 3 \
        --baseline /work/wt/baseline/src --json
"""

# No "from __future__ import annotations": the routes' annotations name local imports.
import argparse
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    PYTHON,
    BenchError,
    Child,
    Processes,
    Series,
    free_port,
    interleaved,
    machine_state,
    main_guard,
    print_table,
    progress,
    require,
    run_wrk,
    uvicorn_command,
    wait_http,
    write_results,
)

PATH = "/api/v1/bench/me"
ISSUER = "mercato-auth"
AUDIENCE = "mercato"
KID = "bench-key"
WRK_SCRIPT = """\
wrk.headers["Authorization"] = "Bearer {token}"
"""


def signing_material() -> tuple[dict[str, Any], str]:
    """A JWKS of one fresh Ed25519 key, and a customer access token it signed (1 h)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwks = {"keys": [{**jwk, "kid": KID, "alg": "EdDSA", "use": "sig"}]}
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "roles": ["customer"],
    }
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": KID, "typ": "at+jwt"})
    return jwks, token


def _jwks() -> dict[str, Any]:
    return dict(json.loads(os.environ["BENCH_JWKS"]))


def bare_app() -> Any:
    """FastAPI alone: the route and a naive per-request token check, nothing else."""
    import jwt
    from fastapi import Depends, FastAPI, HTTPException, Request

    keys = {entry["kid"]: jwt.PyJWK.from_dict(entry) for entry in _jwks()["keys"]}
    remembered: dict[str, tuple[str, float]] = {}
    cached = os.environ.get("BENCH_CACHE") == "on"

    async def caller(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "A bearer token is required.")
        if cached and token in remembered:
            subject, exp = remembered[token]
            if time.time() < exp:
                return subject
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "at+jwt":
                raise HTTPException(401, "The token is not an access token.")
            claims = jwt.decode(
                token,
                key=keys[header["kid"]].key,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except (KeyError, jwt.InvalidTokenError) as exc:
            raise HTTPException(401, "The token is invalid.") from exc
        if cached:
            remembered[token] = (str(claims["sub"]), float(claims["exp"]))
        return str(claims["sub"])

    app = FastAPI()

    @app.get(PATH)
    async def me(user_id: str = Depends(caller)) -> dict[str, str]:
        return {"user_id": user_id}

    return app


def chassis_app() -> Any:
    """The same route on the chassis, as a service builds its app, logging as services do."""
    from fastapi import APIRouter

    from mercato.platform.app import Platform
    from mercato.platform.logging import configure_logging
    from mercato.platform.security import CurrentUser
    from mercato.platform.settings import ServiceSettings

    configure_logging("gateway", "info")
    router = APIRouter()

    @router.get(PATH)
    async def me(principal: CurrentUser) -> dict[str, str]:
        return {"user_id": principal.subject}

    platform = Platform(ServiceSettings.for_service("gateway"))
    jwks = _jwks()

    async def fetch() -> dict[str, Any]:
        return jwks

    platform.use_token_keys(fetch)
    return platform.create_app(routers=[router])


def imported_mercato(env: dict[str, str]) -> str:
    """Where a child with ``env`` imports ``mercato`` from (to check the baseline is used)."""
    done = subprocess.run(
        [PYTHON, "-c", "import mercato; print(mercato.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


def main() -> int:
    """Runs the comparison and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--baseline", type=Path, help="another tree's src/ to compare with")
    parser.add_argument("--json", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args()
    require("wrk")

    jwks, token = signing_material()
    common = {"BENCH_JWKS": json.dumps(jwks)}
    variants: dict[str, tuple[str, dict[str, str]]] = {
        "bare": ("chassis_overhead:bare_app", common),
        "bare+cache": ("chassis_overhead:bare_app", {**common, "BENCH_CACHE": "on"}),
        "chassis": ("chassis_overhead:chassis_app", common),
    }
    if args.baseline:
        baseline_env = {**common, "PYTHONPATH": f"{args.baseline.resolve()}:{BENCH_DIR}"}
        variants["chassis@baseline"] = ("chassis_overhead:chassis_app", baseline_env)
    origins = {name: imported_mercato(env) for name, (_, env) in variants.items()}
    for name, origin in origins.items():
        progress(f"{name:17} imports {origin}")

    series = {variant: Series() for variant in variants}
    with Processes() as processes:
        script = processes.workdir / "auth.lua"
        script.write_text(WRK_SCRIPT.format(token=token))
        urls: dict[str, str] = {}
        children: dict[str, Child] = {}
        for variant, (target, env) in variants.items():
            port = free_port()
            name = variant.replace("@", "-").replace("+", "-")
            children[variant] = processes.start(
                name, uvicorn_command(target, port, factory=True), env=env
            )
            urls[variant] = f"http://127.0.0.1:{port}{PATH}"
        for variant, child in children.items():
            wait_http(urls[variant].removesuffix(PATH) + "/docs", child)

        before = machine_state()
        for variant in variants:  # warm-up
            run_wrk(urls[variant], connections=args.connections, duration=1, script=script)
        for round_no, variant in interleaved(list(variants), args.rounds):
            child = children[variant]
            result = run_wrk(
                urls[variant],
                connections=args.connections,
                duration=args.duration,
                script=script,
                watch=[child],
            )
            if not result.clean:
                raise BenchError(f"{variant} answered errors:\n{child.log_tail()}")
            series[variant].runs.append(result)
            progress(
                f"round {round_no} {variant:17} {result.requests_per_second:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms CPU {result.cpu_us_per_request(child.name):5.0f} "
                f"us/req load {result.load_before:.2f} non-2xx {result.non_2xx}"
            )
        after = machine_state()

    if args.json:
        path = write_results(
            "chassis_overhead",
            {
                "args": vars(args),
                "imports": origins,
                "before": before,
                "after": after,
                "series": series,
            },
        )
        progress(f"wrote {path}")
    print(
        f"\n{args.connections} connections, {args.duration:g}s x {args.rounds} rounds, medians\n"
        f"start: {before['when']} {before['uptime']}\nend:   {after['when']} {after['uptime']}"
    )
    bare_cpu = series["bare"].median_cpu_us("bare")
    cached_cpu = series["bare+cache"].median_cpu_us("bare-cache")
    bare_rps = series["bare"].median("requests_per_second")
    rows = []
    for variant, child in children.items():
        s = series[variant]
        cpu = s.median_cpu_us(child.name)
        rps = s.median("requests_per_second")
        rows.append(
            [
                variant,
                rps,
                f"{rps / bare_rps:.2f}x",
                s.median("p50_ms"),
                s.median("p99_ms"),
                cpu,
                f"{cpu / bare_cpu:.2f}x",
                f"{cpu / cached_cpu:.2f}x",
                s.failures,
            ]
        )
    print_table(
        [
            "server",
            "req/s",
            "vs bare",
            "p50 ms",
            "p99 ms",
            "CPU us/req",
            "CPU vs bare",
            "CPU vs bare+cache",
            "errors",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    main_guard(main)
