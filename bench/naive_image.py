"""What a hand-written image of the same service installs besides its framework
(bench/baseline_app.py: FastAPI and uvicorn; boto3 to read the model from S3). One definition
for the buildah bench (image_sizes.py) and the wheel-size estimate (gpu_image_estimate.py)."""

NAIVE_EXTRA = ("fastapi==0.165.0", "uvicorn==0.54.0", "boto3==1.44.5")
