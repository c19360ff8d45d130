"""Search ranking: a TorchScript model on one NVIDIA GPU."""

from mlinfra import ModelService

ModelService(
    "search-ranker",
    model_uri="s3://acme-models/ranker/v3/model.pt",
    gpu=True,
    replicas=2,
    max_batch_size=64,
    expected_load_seconds=120,
)
