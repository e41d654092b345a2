"""schemathesis against an OpenAPI document: every operation, a bounded number of examples.

Each operation is fuzzed with positive and negative examples as a customer or an
administrator (hypothesis draws which); every answer must be documented (status and
content type), match its schema, never be a 5xx, and give nothing away (see ``leaks``).
The number of examples is ``MERCATO_FUZZ_EXAMPLES`` (``make fuzz`` raises it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

BOUNDED_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
Inspect = Callable[[httpx.Response], list[str]]


def examples_per_operation() -> int:
    """How many examples each operation gets: a few in ``make test``, more in ``make fuzz``."""
    return int(os.environ.get("MERCATO_FUZZ_EXAMPLES", BOUNDED_EXAMPLES))


@dataclass
class FuzzReport:
    """What a run did and found."""

    operations: int = 0
    requests: int = 0
    findings: dict[str, str] = field(default_factory=dict)


def fuzz(
    document: dict[str, Any],
    base_url: str,
    identities: dict[str, dict[str, str]],
    *,
    examples: int,
    inspect: Inspect,
) -> FuzzReport:
    """Fuzzes every operation of ``document`` at ``base_url`` (blocking: run it in a thread)."""
    assert base_url.startswith("http://127.0.0.1:"), "fuzz only this machine"
    schema = schemathesis.openapi.from_dict(document)
    report = FuzzReport()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the first finding is enough
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, who=st.sampled_from(sorted(identities)))
        def attack(case: schemathesis.Case, who: str) -> None:
            response = case.call(base_url=base_url, session=session, headers=identities[who])
            report.requests += 1
            case.validate_response(response, checks=CHECKS)
            leaked = inspect(_as_httpx(response))
            assert not leaked, f"{who}: {leaked}"

        try:
            attack()
        except Exception as failure:  # a finding: keep fuzzing the other operations
            report.findings[label] = f"{type(failure).__name__}: {failure}"[:2000]
    return report


def _as_httpx(response: schemathesis.Response) -> httpx.Response:
    request = httpx.Request(response.request.method or "GET", str(response.request.url))
    headers = [
        (name, value)
        for name, values in response.headers.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=response.content,
        request=request,
    )
