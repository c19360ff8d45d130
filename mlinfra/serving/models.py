"""Framework loaders. Each returns a `LoadedModel` whose `predict` maps a 2-D float array
to a 1-D or 2-D array, one row per input row. Frameworks are imported lazily so the process
only pays for the one it serves."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlinfra.serving import hgb_fastpath, skops_trust
from mlinfra.serving.compiled import program as compiled
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.frameworks import FRAMEWORKS, infer_framework, is_pickle

log = logging.getLogger("mlinfra.serving.models")

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LoadedModel:
    framework: str
    predict: Predict
    n_features: int | None
    input_dtype: np.dtype[Any]
    native: Any = None  # the framework's own object (read by the build-time compiler)
    warmup_row: np.ndarray | None = None  # an input the model accepts; else zeros are used


def load_model(
    path: Path,
    *,
    framework: str | None,
    trusted_pickle: bool,
    input_features: int | None = None,
    fast_trees: bool = True,
    use_compiled: bool = True,
) -> LoadedModel:
    if use_compiled and (done := _load_compiled(path)) is not None:
        return done
    chosen = framework or infer_framework(path.name)
    if chosen is None:
        raise ModelLoadError(
            f"cannot tell the framework of {path.name}; set MLINFRA_FRAMEWORK to one of {', '.join(FRAMEWORKS)}"
        )
    loader = _LOADERS.get(chosen)
    if loader is None:
        raise ModelLoadError(f"framework {chosen!r} unknown; allowed: {', '.join(FRAMEWORKS)}")
    try:
        model = loader(path, trusted_pickle, fast_trees)
    except ModelLoadError:
        raise
    except Exception as exc:  # a corrupt or foreign file: report it, stay not-ready
        raise ModelLoadError(f"could not load {path.name} as {chosen}: {exc}") from exc
    if model.n_features is None and input_features is not None:
        model = LoadedModel(model.framework, model.predict, input_features, model.input_dtype)
    return model


def _load_compiled(path: Path) -> LoadedModel | None:
    """The build-time compiled form of this exact file (numpy only), when the image has one."""
    model = compiled.load_sidecar(path)
    if model is None:
        return None
    return _served(model, "serving the compiled model (numpy only; the framework is not imported)")


def _load_compiled_file(path: Path, trusted_pickle: bool, fast_trees: bool) -> LoadedModel:
    """A model compiled ahead of time (`python -m mlinfra.serving.compiled`, where the framework
    was installed and the compiled form verified against it); the framework is never needed."""
    return _served(compiled.load(path), "serving a compiled model file (numpy only)")


def _served(model: compiled.CompiledModel, message: str) -> LoadedModel:
    log.info(message, extra={"fields": {"model": model.source["type"], "framework": model.source["framework"]}})
    return LoadedModel(
        model.source["framework"], model.predict, model.n_features, model.input_dtype, warmup_row=model.warmup_row
    )


def _load_sklearn(path: Path, trusted_pickle: bool, fast_trees: bool) -> LoadedModel:
    if is_pickle(path.name):
        if not trusted_pickle:
            raise ModelLoadError(
                f"{path.name} is a pickle/joblib file, which runs code when loaded; refusing. "
                "Prefer skops (.skops), or set MLINFRA_TRUSTED_PICKLE=true (service option "
                "trusted_pickle=True) if you trust its author"
            )
        import joblib

        estimator = joblib.load(path)
    else:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        # Only the exact scikit-learn state classes of skops_trust.ALLOWED_TYPES (checked
        # against what each name really resolves to) load without the opt-in; functions and
        # any other type need it, wherever they claim to come from.
        foreign = skops_trust.refused(untrusted)
        if foreign and not trusted_pickle:
            raise ModelLoadError(
                f"{path.name} contains types that mlinfra does not trust without the opt-in: "
                f"{', '.join(foreign)}; set MLINFRA_TRUSTED_PICKLE=true to allow them"
            )
        estimator = sio.load(path, trusted=untrusted or None)
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{path.name} holds a {type(estimator).__name__} with no predict()")
    import sklearn

    if fast_trees and hgb_fastpath.install(estimator):
        log.info("scikit-learn HistGradientBoosting: using the verified all-trees-at-once path")

    def predict(x: np.ndarray) -> np.ndarray:
        # Inputs come from JSON, which cannot carry NaN/inf in our parser, so sklearn's
        # finiteness scan and parameter validation are pure overhead per call.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return np.asarray(estimator.predict(x))

    n = getattr(estimator, "n_features_in_", None)
    width = int(n) if n is not None else None
    return LoadedModel("sklearn", predict, width, np.dtype(np.float64), estimator)


def _load_xgboost(path: Path, _trusted: bool, _fast: bool) -> LoadedModel:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(path))

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(booster.inplace_predict(x))

    return LoadedModel("xgboost", predict, int(booster.num_features()), np.dtype(np.float32), booster)


def _load_lightgbm(path: Path, _trusted: bool, _fast: bool) -> LoadedModel:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(path))

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(x))

    return LoadedModel("lightgbm", predict, int(booster.num_feature()), np.dtype(np.float64), booster)


_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float16)": np.float16,
}


def _load_onnx(path: Path, _trusted: bool, _fast: bool) -> LoadedModel:
    import onnxruntime as ort

    # CUDA first when the GPU wheel and a device are present; CPU always as the fallback.
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    session = ort.InferenceSession(str(path), providers=providers)
    inp = session.get_inputs()[0]
    out_name = session.get_outputs()[0].name
    dtype = np.dtype(_ORT_DTYPES.get(inp.type, np.float32))
    width = inp.shape[1] if len(inp.shape) == 2 and isinstance(inp.shape[1], int) else None

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run([out_name], {inp.name: x.astype(dtype, copy=False)})[0])

    return LoadedModel("onnx", predict, width, dtype)


def _load_torchscript(path: Path, _trusted: bool, _fast: bool) -> LoadedModel:
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    module.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device))
        return np.asarray(out.detach().cpu().numpy())

    return LoadedModel("torchscript", predict, None, np.dtype(np.float32))


_LOADERS: dict[str, Callable[[Path, bool, bool], LoadedModel]] = {
    "sklearn": _load_sklearn,
    "xgboost": _load_xgboost,
    "lightgbm": _load_lightgbm,
    "onnx": _load_onnx,
    "torchscript": _load_torchscript,
    "compiled": _load_compiled_file,
}
