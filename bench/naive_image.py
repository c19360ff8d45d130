"""What a hand-written image of the same service installs (bench/baseline_app.py: FastAPI and
uvicorn; boto3 to read the model from S3; the framework under its usual name). One definition
for the buildah bench (image_sizes.py) and the wheel-size estimate (gpu_image_estimate.py)."""

from mlinfra.image import framework_requirements

NAIVE_EXTRA = ("fastapi==0.165.0", "uvicorn==0.54.0", "boto3==1.44.5")

# A hand-written Dockerfile says `pip install xgboost`, not the slimmer build mlinfra picks.
_USUAL_NAME = {"xgboost-cpu": "xgboost"}


def naive_requirements(framework: str, gpu: bool) -> list[str]:
    """The naive image's pinned requirements: NAIVE_EXTRA and the framework by its usual name."""
    framework_reqs = []
    for req in framework_requirements(framework, gpu):
        name, _, version = req.partition("==")
        framework_reqs.append(f"{_USUAL_NAME.get(name, name)}=={version}")
    return sorted([*NAIVE_EXTRA, *framework_reqs])
