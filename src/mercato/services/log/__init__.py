"""log: central structured logs (OTLP ingest, search, retention) and the audit trail."""
