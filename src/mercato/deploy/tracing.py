"""Where traces go when deployed: an OpenTelemetry Collector in front of Grafana Tempo.

Services export OTLP/HTTP to the collector (``OTEL_EXPORTER_OTLP_ENDPOINT``, read by the
chassis, docs/observability.md); the collector batches, caps its memory and forwards
OTLP/gRPC to Tempo, which Grafana queries. Their log records take the same road
(``MERCATO_LOG_SHIPPING_URL``): the collector forwards them to the log service (ADR 0033).
One source for both targets: the ``tracing`` Kustomize component
(``mercato.deploy.k8s.tracing``) and the compose services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mercato.deploy import model
from mercato.deploy.documents import HEADER, to_yaml

Obj = dict[str, Any]
Files = dict[str, Any]

COLLECTOR = "otel-collector"
TEMPO = "tempo"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.116.1"
TEMPO_IMAGE = "grafana/tempo:2.6.1"
OTLP_HTTP_PORT = 4318
OTLP_GRPC_PORT = 4317
COLLECTOR_HEALTH_PORT = 13133
COLLECTOR_METRICS_PORT = 8888
TEMPO_HTTP_PORT = 3200
TEMPO_RETENTION = "72h"
TEMPO_DATA = "/var/tempo"
LOG_SERVICE = "log"

# What every service container gets with tracing deployed.
SERVICE_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{COLLECTOR}:{OTLP_HTTP_PORT}",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "MERCATO_LOG_SHIPPING_URL": f"http://{COLLECTOR}:{OTLP_HTTP_PORT}/v1/logs",
}


def sampler_env(ratio: float) -> dict[str, str]:
    """The sampler keeping ``ratio`` of the traces, decided once where a trace starts.

    Parent-based: a service keeps the decision of its caller (or of the event's
    producer), so a trace is kept or dropped whole; only the edge draws.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"a sampling ratio is between 0 and 1, not {ratio}")
    if ratio == 1.0:
        return {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    return {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}",
    }


def collector_config(*, kubernetes: bool) -> Obj:
    """The collector: OTLP/HTTP in, memory limit, batches, OTLP/gRPC out to Tempo."""
    processors: Obj = {
        "memory_limiter": {
            "check_interval": "1s",
            "limit_percentage": 80,
            "spike_limit_percentage": 20,
        },
        "batch": {"send_batch_size": 1024, "timeout": "2s"},
    }
    chain = ["memory_limiter"]
    if kubernetes:
        # Which environment a span comes from, whatever the service sent.
        processors["resource"] = {
            "attributes": [
                {"key": "k8s.namespace.name", "value": "${env:K8S_NAMESPACE}", "action": "upsert"}
            ]
        }
        chain.append("resource")
    chain.append("batch")
    return {
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}}},
        "processors": processors,
        "exporters": {
            "otlp/tempo": {"endpoint": f"{TEMPO}:{OTLP_GRPC_PORT}", "tls": {"insecure": True}},
            # The log service's OTLP/HTTP logs route (the exporter appends /v1/logs).
            "otlphttp/log": {"endpoint": f"http://{LOG_SERVICE}:{model.CONTAINER_PORT}"},
        },
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {
                                        "host": "0.0.0.0",  # noqa: S104 (in its pod)
                                        "port": COLLECTOR_METRICS_PORT,
                                    }
                                }
                            }
                        }
                    ]
                }
            },
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": chain,
                    "exporters": ["otlp/tempo"],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": chain,
                    "exporters": ["otlphttp/log"],
                },
            },
        },
    }


def tempo_config() -> Obj:
    """Tempo on one node: OTLP/gRPC in, blocks on its volume, kept for three days."""
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": TEMPO_HTTP_PORT, "log_level": "info"},
        "distributor": {
            "receivers": {
                "otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}}}
            }
        },
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": TEMPO_RETENTION}},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": f"{TEMPO_DATA}/wal"},
                "local": {"path": f"{TEMPO_DATA}/blocks"},
            }
        },
        "usage_report": {"reporting_enabled": False},
    }


def grafana_datasource(url: str, *, uid: str = TEMPO, name: str = "Tempo") -> Obj:
    """Grafana's provisioning file for the Tempo datasource."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": name,
                "uid": uid,
                "type": "tempo",
                "access": "proxy",
                "url": url,
                "isDefault": False,
                "jsonData": {
                    "nodeGraph": {"enabled": True},
                    "search": {"hide": False},
                    "traceQuery": {"timeShiftEnabled": True},
                },
            }
        ],
    }


# -- compose ------------------------------------------------------------------------------


def compose_services(healthcheck: Callable[[list[str]], Obj]) -> Obj:
    """The collector and Tempo as compose services."""
    return {
        COLLECTOR: {
            "image": COLLECTOR_IMAGE,
            "restart": "unless-stopped",
            "command": ["--config=/etc/otelcol/collector.yaml"],
            "volumes": ["./tracing/collector.yaml:/etc/otelcol/collector.yaml:ro"],
            "depends_on": {TEMPO: {"condition": "service_started"}},
            # The image is distroless: nothing in it can ask the health endpoint, so no
            # check is claimed. Services do not wait for it (spans are sent in the
            # background and dropped while it is away); a crash restarts it.
            "healthcheck": {"disable": True},
        },
        TEMPO: {
            "image": TEMPO_IMAGE,
            "restart": "unless-stopped",
            "user": f"{model.RUN_AS_USER}:{model.RUN_AS_USER}",
            "command": ["-config.file=/etc/tempo/tempo.yaml"],
            "volumes": [
                "./tracing/tempo.yaml:/etc/tempo/tempo.yaml:ro",
                f"tempo-data:{TEMPO_DATA}",
            ],
            "healthcheck": healthcheck(
                ["CMD", "wget", "-q", "--spider", f"http://127.0.0.1:{TEMPO_HTTP_PORT}/ready"]
            ),
        },
    }


def compose_files(root: str) -> Files:
    """Configuration files the compose services mount, and Grafana's datasource."""
    return {
        f"{root}/tracing/collector.yaml": HEADER + to_yaml(collector_config(kubernetes=False)),
        f"{root}/tracing/tempo.yaml": HEADER + to_yaml(tempo_config()),
        f"{root}/grafana/provisioning/datasources/tempo.yaml": grafana_datasource(
            f"http://{TEMPO}:{TEMPO_HTTP_PORT}"
        ),
    }
