"""Fraud scoring: a scikit-learn model on CPU, autoscaled on CPU utilisation."""

from mlinfra import ModelService

ModelService(
    "fraud-detector",
    model_uri="s3://acme-models/fraud/v12/model.skops",
    model_sha256="3f7a1c9e5b2d4f608a1e7c3b9d5f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f",
    cpu="1",
    memory="2Gi",
    autoscaling={"min_replicas": 3, "max_replicas": 12, "target_cpu_percent": 60},
    secrets=["fraud-api-key"],
    env={"LOG_LEVEL": "info"},
    expected_load_seconds=20,
)
