"""The /predict service an ML team typically writes by hand: FastAPI + pydantic + joblib-style
loading, run by uvicorn with one worker. bench/serving.sh measures mlinfra against it.

Usage: BASELINE_MODEL=/path/model.skops uvicorn bench.baseline_app:app --workers 1
"""

from __future__ import annotations

import os

import skops.io as sio
from fastapi import FastAPI
from pydantic import BaseModel

_path = os.environ["BASELINE_MODEL"]
model = sio.load(_path, trusted=sio.get_untrusted_types(file=_path))
app = FastAPI()


class Features(BaseModel):
    features: list[float]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(req: Features) -> dict[str, int]:
    return {"prediction": int(model.predict([req.features])[0])}
