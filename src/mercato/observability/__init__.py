"""Monitoring as code: Prometheus scrape configs, recording and alert rules, Grafana dashboards.

Everything under ``deploy/monitoring`` is generated from this package (``mercato render
monitoring``); the Kubernetes component wraps those files into PrometheusRule objects and
dashboard ConfigMaps. The conventions the rules and dashboards rely on are in
docs/observability.md.
"""
