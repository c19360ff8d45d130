"""The /predict service an ML team typically writes by hand: FastAPI + pydantic, the model
loaded with its framework, run by uvicorn with one worker. bench/serving.sh measures
mlinfra against it.

Usage: BASELINE_MODEL=/path/model.{skops,ubj,txt} uvicorn bench.baseline_app:app --workers 1
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

_path = os.environ["BASELINE_MODEL"]
predict_row: Callable[[list[float]], float | int]
if _path.endswith(".skops"):
    import skops.io as sio

    _model = sio.load(_path, trusted=sio.get_untrusted_types(file=_path))
    predict_row = lambda row: int(_model.predict([row])[0])  # noqa: E731
elif _path.endswith(".ubj"):
    import xgboost as xgb

    _booster = xgb.Booster()
    _booster.load_model(_path)
    predict_row = lambda row: float(  # noqa: E731
        _booster.inplace_predict(np.asarray([row], dtype=np.float32))[0]
    )
else:
    import lightgbm as lgb

    _lgb = lgb.Booster(model_file=_path)
    predict_row = lambda row: float(_lgb.predict(np.asarray([row]))[0])  # noqa: E731
app = FastAPI()


class Features(BaseModel):
    features: list[float]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(req: Features) -> dict[str, float | int]:
    return {"prediction": predict_row(req.features)}
