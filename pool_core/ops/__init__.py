"""Operations: Prometheus metrics, the /metrics /healthz /readyz endpoints, readiness checks.

The metric names, labels and endpoints follow the contract of issue 18 (README, "Metrics and
health"); dashboards and alert rules depend on them, so they are never renamed.
"""
