"""Build time: a framework's model -> a compiled program (header steps + arrays), or
`Unsupported` with the reason. Imports the frameworks (only here, never at run time)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlinfra.serving.compiled.pack import Tree, pack

Scores = Callable[[np.ndarray], np.ndarray]


class Unsupported(Exception):
    """This model (or one of its parts) is not covered; the framework keeps serving it."""


@dataclass
class Program:
    model_type: str
    steps: list[dict[str, Any]]
    head: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    scores: Scores | None  # the framework's own scores, compared bit for bit
    missing_ok: bool  # the framework defines what a NaN input does
    split_points: list[tuple[int, np.ndarray]] = field(default_factory=list)
    # input column -> the values an encoder knows there, so probes hit real categories
    categories: dict[int, np.ndarray] = field(default_factory=dict)
    rejects_unknown: bool = False  # an unknown category is an error (probed separately)


def convert(native: Any, framework: str) -> Program:
    if framework == "sklearn":
        return _sklearn(native)
    if framework == "xgboost":
        return _xgboost(native)
    if framework == "lightgbm":
        return _lightgbm(native)
    raise Unsupported(f"framework {framework!r} is not compiled")


def _split_points(spec_arrays: dict[str, np.ndarray], prefix: str) -> list[tuple[int, np.ndarray]]:
    feature = spec_arrays[f"{prefix}.feature"]
    thr = spec_arrays[f"{prefix}.threshold"].astype(np.float64)
    inner = ~spec_arrays[f"{prefix}.is_leaf"] & np.isfinite(thr)  # inf: "NaN vs the rest" splits
    return [(int(f), thr[inner & (feature == f)]) for f in np.unique(feature[inner])]


# -- scikit-learn ------------------------------------------------------------------------------
_SK_TREES = {
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
}
_SK_LINEAR = {
    "LogisticRegression",
    "LinearRegression",
    "Ridge",
    "RidgeClassifier",
    "SGDClassifier",
    "SGDRegressor",
    "LinearSVC",
    "LinearSVR",
}


def _sklearn(est: Any) -> Program:
    steps: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    final = est
    names = []
    if type(est).__name__ == "Pipeline":
        for i, (_name, step) in enumerate(est.steps[:-1]):
            if step is None or step == "passthrough":
                continue
            spec, arr = _sk_transformer(step, f"p{i}")
            steps.append(spec)
            arrays.update(arr)
            names.append(type(step).__name__)
        final = est.steps[-1][1]
    kind = type(final).__name__
    names.append(kind)
    sparse_into_final = bool(steps) and bool(steps[-1].get("sparse_output"))
    if getattr(final, "n_outputs_", 1) != 1 and kind in _SK_TREES:
        raise Unsupported(f"{kind} with {final.n_outputs_} outputs")
    if kind in _SK_TREES:
        model_steps, head, arr, scores = _sk_forest(final)
    elif kind in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        model_steps, head, arr, scores = _sk_gradient_boosting(final)
    elif kind in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        model_steps, head, arr, scores = _sk_hist_gradient_boosting(final)
    elif kind in _SK_LINEAR:
        model_steps, head, arr, scores = _sk_linear(final)
        if sparse_into_final:
            model_steps[0]["sparse_input"] = True
    else:
        raise Unsupported(f"scikit-learn {kind} is not covered")
    arrays.update(arr)
    model_type = "Pipeline[" + ", ".join(names) + "]" if len(names) > 1 else kind
    if steps and scores is not None:
        # the final estimator's scores on what the preprocessing steps produce
        pre = est[:-1]
        final_scores = scores
        scores = lambda x: final_scores(pre.transform(x))  # noqa: E731
    tags = est.__sklearn_tags__()
    split_points = (
        [] if steps else [sp for s in model_steps if s["op"] == "trees" for sp in _split_points(arrays, s["prefix"])]
    )
    categories, rejects_unknown = _input_categories(steps, arrays)
    return Program(
        model_type,
        steps + model_steps,
        head,
        arrays,
        scores,
        bool(tags.input_tags.allow_nan),
        split_points,
        categories,
        rejects_unknown,
    )


def _input_categories(steps: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> tuple[dict[int, np.ndarray], bool]:
    """The first encoder's categories, by input column: the probes must be made of them.
    Only where every step before it leaves columns and known values where they are (an
    imputer that drops no column); an encoder behind a scaler sees other numbers."""
    for spec in steps:
        if spec["op"] == "one_hot_encoder":
            cats = {i: arrays[f"{spec['prefix']}.categories{i}"] for i in range(spec["n_features"])}
            return cats, spec["handle_unknown"] == "error"
        keeps_columns = spec["op"] == "simple_imputer" and np.array_equal(
            arrays[f"{spec['prefix']}.keep"], np.arange(len(arrays[f"{spec['prefix']}.keep"]))
        )
        if not keeps_columns:
            if any(s["op"] == "one_hot_encoder" for s in steps):
                raise Unsupported(f"OneHotEncoder behind {spec['op']}; only behind imputers that keep every column")
            break
    return {}, False


def _sk_transformer(step: Any, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    kind = type(step).__name__
    if kind == "StandardScaler":
        arr = {}
        if step.with_mean:
            arr[f"{prefix}.mean"] = np.asarray(step.mean_, dtype=np.float64)
        if step.with_std:
            arr[f"{prefix}.scale"] = np.asarray(step.scale_, dtype=np.float64)
        spec = {
            "op": "standard_scaler",
            "prefix": prefix,
            "with_mean": bool(step.with_mean),
            "with_std": bool(step.with_std),
        }
        return spec, arr
    if kind == "MinMaxScaler":
        spec = {
            "op": "minmax_scaler",
            "prefix": prefix,
            "clip": [float(v) for v in step.feature_range] if step.clip else None,
        }
        return spec, {
            f"{prefix}.scale": np.asarray(step.scale_, dtype=np.float64),
            f"{prefix}.min": np.asarray(step.min_, dtype=np.float64),
        }
    if kind == "SimpleImputer":
        missing = step.missing_values
        if not (isinstance(missing, float) and np.isnan(missing)):
            raise Unsupported(f"SimpleImputer(missing_values={missing!r}); only NaN is covered")
        if step.add_indicator:
            raise Unsupported("SimpleImputer(add_indicator=True)")
        stats = np.asarray(step.statistics_, dtype=np.float64)
        keep = np.arange(len(stats)) if step.keep_empty_features else np.flatnonzero(~np.isnan(stats))
        return {"op": "simple_imputer", "prefix": prefix}, {
            f"{prefix}.keep": keep.astype(np.int32),
            f"{prefix}.statistics": stats[keep],
        }
    if kind == "OneHotEncoder":
        return _sk_one_hot(step, prefix)
    raise Unsupported(f"pipeline step {kind} is not covered")


def _sk_one_hot(step: Any, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """OneHotEncoder over numeric categories (the runtime's input is numbers). Infrequent
    categories (min_frequency / max_categories) are not covered; without them 'ignore',
    'infrequent_if_exist' and 'warn' all encode an unknown value as zeros."""
    if step._infrequent_enabled:
        raise Unsupported("OneHotEncoder with infrequent categories (min_frequency / max_categories)")
    if step.handle_unknown not in ("error", "ignore", "infrequent_if_exist", "warn"):
        raise Unsupported(f"OneHotEncoder(handle_unknown={step.handle_unknown!r})")
    arrays: dict[str, np.ndarray] = {}
    for i, cats in enumerate(step.categories_):
        if cats.dtype.kind not in "biuf":
            raise Unsupported(f"OneHotEncoder with {cats.dtype} categories in column {i}; only numbers are covered")
        as_float = cats.astype(np.float64)
        if not np.array_equal(as_float, cats, equal_nan=True):
            raise Unsupported(f"OneHotEncoder categories of column {i} are not exact as float64")
        arrays[f"{prefix}.categories{i}"] = as_float
    drops = step._drop_idx_after_grouping
    drop = [None if drops is None or drops[i] is None else int(drops[i]) for i in range(len(step.categories_))]
    spec = {
        "op": "one_hot_encoder",
        "prefix": prefix,
        "n_features": len(step.categories_),
        "drop": drop,
        "handle_unknown": "error" if step.handle_unknown == "error" else "ignore",
        "dtype": np.dtype(step.dtype).name,
        # scikit-learn hands the next step a CSR matrix: a linear model then sums as SciPy does
        "sparse_output": bool(step.sparse_output),
    }
    return spec, arrays


def _classes(est: Any, prefix: str) -> np.ndarray:
    classes = np.asarray(est.classes_)
    if classes.dtype == object:
        if not all(isinstance(c, str) for c in classes):
            raise Unsupported("class labels of mixed or non-string object type")
        classes = classes.astype(str)
    return classes


def _labels(est: Any, prefix: str, rule: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return ({"op": "labels", "prefix": prefix, "binary_rule": rule}, {f"{prefix}.classes": _classes(est, prefix)})


def _sk_tree(tree: Any, output: int = 0, scale: float | None = None, classes: int | None = None) -> Tree:
    t = tree.tree_
    nodes = t.__getstate__()["nodes"]
    if classes is not None:
        value = t.value[:, 0, :classes].astype(np.float64)
    else:
        value = t.value[:, 0, 0].astype(np.float64)
        if scale is not None:
            value = scale * value  # the same double product predict_stages computes
    return Tree(
        left=np.asarray(t.children_left),
        right=np.asarray(t.children_right),
        feature=np.asarray(t.feature),
        threshold=np.asarray(t.threshold),
        nan_left=nodes["missing_go_to_left"].astype(bool),
        value=value,
        output=output,
    )


def _sk_forest(est: Any) -> Any:
    single = not hasattr(est, "estimators_")
    members = [est] if single else list(est.estimators_)
    is_clf = hasattr(est, "classes_")
    n_classes = int(est.n_classes_) if is_clf else None
    trees = [_sk_tree(m, classes=n_classes) for m in members]
    out_width = n_classes if n_classes is not None else 1
    spec, arrays = pack(
        trees,
        "t",
        cast="float32",
        compare="le",
        accumulate="float64",
        init=np.zeros(out_width),
        threshold_dtype="float64",
        divide=None if single else float(len(members)),
    )
    if not is_clf:
        # a scalar per leaf; the regressors' predict averages them
        spec_head = [{"op": "ravel"}]
        return [spec], spec_head, arrays, (lambda x: est.predict(x))
    lab, arr = _labels(est, "h", ">")
    arrays.update(arr)
    # argmax over class probabilities (two columns for binary, so no sign rule applies)
    return [spec], [lab], arrays, est.predict_proba


def _sk_gradient_boosting(est: Any) -> Any:
    init = est.init_
    if not (init == "zero" or type(init).__name__ in ("DummyClassifier", "DummyRegressor")):
        raise Unsupported(f"GradientBoosting with init={type(init).__name__}")
    k = int(est.n_trees_per_iteration_)
    width = int(est.n_features_in_)
    # The init estimator's raw prediction does not depend on X (a constant per output).
    init_raw = est._raw_predict_init(np.zeros((1, width), dtype=np.float32))[0]
    trees = [
        _sk_tree(est.estimators_[i, j], output=j, scale=float(est.learning_rate))
        for i in range(est.estimators_.shape[0])
        for j in range(k)
    ]
    spec, arrays = pack(
        trees,
        "t",
        cast="float32",
        compare="le",
        accumulate="float64",
        init=np.asarray(init_raw, dtype=np.float64),
        threshold_dtype="float64",
    )

    def raw(x: np.ndarray) -> np.ndarray:  # what predict computes after its float32 check
        return est._raw_predict(np.asarray(x, dtype=np.float32, order="C"))

    if hasattr(est, "classes_"):
        lab, arr = _labels(est, "h", ">=")
        arrays.update(arr)
        return [spec], [lab], arrays, raw
    return [spec], [{"op": "ravel"}], arrays, raw


def _sk_hist_gradient_boosting(est: Any) -> Any:
    if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
        raise Unsupported("HistGradientBoosting with categorical features")
    k = int(est.n_trees_per_iteration_)
    trees = []
    for per_iteration in est._predictors:
        for j, predictor in enumerate(per_iteration):
            n = predictor.nodes
            leaf = n["is_leaf"].astype(bool)
            trees.append(
                Tree(
                    left=np.where(leaf, -1, n["left"].astype(np.int64)),
                    right=np.where(leaf, -1, n["right"].astype(np.int64)),
                    feature=n["feature_idx"],
                    threshold=n["num_threshold"].astype(np.float64),
                    nan_left=n["missing_go_to_left"].astype(bool),
                    value=n["value"].astype(np.float64),
                    output=j,
                )
            )
    baseline = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    spec, arrays = pack(
        trees, "t", cast="float64", compare="le", accumulate="float64", init=baseline, threshold_dtype="float64"
    )
    if len(baseline) != k:
        raise Unsupported("unexpected baseline shape")
    if hasattr(est, "classes_"):
        lab, arr = _labels(est, "h", ">")
        arrays.update(arr)
        return [spec], [lab], arrays, est._raw_predict
    link = type(est._loss.link).__name__
    head: list[dict[str, Any]] = [{"op": "ravel"}]
    if link == "LogLink":
        head.append({"op": "exp"})
    elif link != "IdentityLink":
        raise Unsupported(f"HistGradientBoostingRegressor with link {link}")
    return [spec], head, arrays, est._raw_predict


def _sk_linear(est: Any) -> Any:
    coef = np.asarray(est.coef_)
    intercept = np.asarray(est.intercept_)
    if coef.dtype != np.float64:
        raise Unsupported(f"{type(est).__name__} with {coef.dtype} coefficients")
    spec = {"op": "linear", "prefix": "m"}
    arrays = {"m.coef": coef, "m.intercept": intercept}
    if hasattr(est, "classes_"):
        lab, arr = _labels(est, "h", ">")
        arrays.update(arr)
        return [spec], [lab], arrays, est.decision_function
    head = [{"op": "ravel"}] if coef.ndim == 1 else []
    return [spec], head, arrays, est.predict


# -- XGBoost -------------------------------------------------------------------------------------
def _xgboost(booster: Any) -> Program:
    model = json.loads(booster.save_raw(raw_format="json"))
    learner = model["learner"]
    gb = learner["gradient_booster"]
    if gb["name"] != "gbtree":
        raise Unsupported(f"XGBoost booster {gb['name']!r}; only gbtree is covered")
    objective = learner["objective"]["name"]
    param = learner["learner_model_param"]
    n_class = int(param.get("num_class", "0"))
    k = max(n_class, 1)
    if int(param.get("num_target", "1")) != 1:
        raise Unsupported("XGBoost multi-target model")
    base = json.loads(param["base_score"]) if param["base_score"].startswith("[") else [float(param["base_score"])]
    base32 = np.asarray(base, dtype=np.float32)
    if objective in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"):
        margin, head = base32, [{"op": "ravel"}]
    elif objective in ("binary:logistic", "reg:logistic"):
        margin, head = _xgb_logit(base32), [{"op": "xgboost_sigmoid"}]
    elif objective == "multi:softprob":
        margin, head = base32, [{"op": "xgboost_softmax"}]
    else:
        raise Unsupported(f"XGBoost objective {objective!r} is not covered")
    if len(margin) == 1 and k > 1:
        margin = np.repeat(margin, k)
    tree_info = gb["model"]["tree_info"]
    trees = []
    for tree, group in zip(gb["model"]["trees"], tree_info, strict=True):
        if any(int(t) != 0 for t in tree.get("split_type", [])):
            raise Unsupported("XGBoost categorical splits")
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise Unsupported("XGBoost vector-leaf trees")
        left = np.asarray(tree["left_children"], dtype=np.int64)
        cond = np.asarray(tree["split_conditions"], dtype=np.float32)
        trees.append(
            Tree(
                left=left,
                right=np.asarray(tree["right_children"], dtype=np.int64),
                feature=np.asarray(tree["split_indices"], dtype=np.int64),
                threshold=cond,
                nan_left=np.asarray(tree["default_left"], dtype=bool),
                value=np.where(left < 0, cond, np.float32(0)).astype(np.float32),
                output=int(group),
            )
        )
    if not trees:
        raise Unsupported("XGBoost model without trees")
    spec, arrays = pack(
        trees,
        "t",
        cast="float32",
        compare="lt",
        accumulate="float32",
        init=margin.astype(np.float32),
        threshold_dtype="float32",
    )
    return Program(
        f"xgboost.Booster[{objective}]",
        [spec],
        head,
        arrays,
        lambda x: booster.inplace_predict(x, predict_type="margin"),
        True,
        _split_points(arrays, "t"),
    )


def _xgb_logit(p: np.ndarray) -> np.ndarray:
    import math

    # ProbToMargin of the logistic objectives: -logf(1.0f / base_score - 1.0f)
    v = np.float32(1.0) / p.astype(np.float32) - np.float32(1.0)
    return np.array([-np.float32(math.log(float(e))) for e in v], dtype=np.float32)


# -- LightGBM ------------------------------------------------------------------------------------
def _lightgbm(booster: Any) -> Program:
    text = booster.model_to_string()
    head_text, _, rest = text.partition("\nTree=")
    header = dict(line.split("=", 1) for line in head_text.splitlines() if "=" in line)
    if "average_output" in head_text.splitlines():
        raise Unsupported("LightGBM random-forest mode (average_output)")
    per_iter = int(header.get("num_tree_per_iteration", "1"))
    objective = header.get("objective", "").split()
    head: list[dict[str, Any]]
    if objective and objective[0] in ("regression", "regression_l1", "huber", "fair", "quantile"):
        head = [{"op": "ravel"}]
    elif objective and objective[0] == "binary":
        sig = [o.split(":")[1] for o in objective if o.startswith("sigmoid:")]
        head = [{"op": "lightgbm_sigmoid", "sigmoid": float(sig[0]) if sig else 1.0}]
    elif objective and objective[0] in ("multiclass", "softmax"):
        head = [{"op": "lightgbm_softmax"}]
    else:
        raise Unsupported(f"LightGBM objective {' '.join(objective)!r} is not covered")
    trees = []
    for i, block in enumerate(("Tree=" + rest).split("\nTree=")):
        body = block.split("\nend of trees")[0]
        fields = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        if "num_leaves" not in fields:
            continue
        if int(fields.get("num_cat", "0")) > 0:
            raise Unsupported("LightGBM categorical splits")
        if fields.get("is_linear", "0") != "0":
            raise Unsupported("LightGBM linear trees")
        trees.append(_lgb_tree(fields, output=i % per_iter))
    if not trees:
        raise Unsupported("LightGBM model without trees")
    spec, arrays = pack(
        trees,
        "t",
        cast="float64",
        compare="le",
        accumulate="float64",
        init=np.zeros(per_iter),
        threshold_dtype="float64",
        lightgbm_missing=True,
    )
    return Program(
        f"lightgbm.Booster[{objective[0]}]",
        [spec],
        head,
        arrays,
        lambda x: booster.predict(x, raw_score=True),
        True,
        _split_points(arrays, "t"),
    )


def _lgb_tree(fields: dict[str, str], output: int) -> Tree:
    def nums(name: str, dtype: Any) -> np.ndarray:
        return np.array([dtype(v) for v in fields[name].split()]) if fields.get(name) else (np.array([], dtype=dtype))

    leaf_value = nums("leaf_value", float)
    n_leaves = int(fields["num_leaves"])
    if n_leaves == 1:
        one = np.array([-1])
        return Tree(
            one,
            one,
            np.array([0]),
            np.array([0.0]),
            np.array([True]),
            leaf_value[:1],
            output,
            np.array([True]),
            np.array([False]),
        )
    n_inner = n_leaves - 1
    dt = nums("decision_type", int)
    if np.any(dt & 1):
        raise Unsupported("LightGBM categorical splits")

    # LightGBM numbers leaves apart (child < 0 means leaf ~child); put them after the inner nodes
    def child(c: np.ndarray) -> np.ndarray:
        return np.where(c < 0, n_inner + ~c, c)

    missing_type = (dt >> 2) & 3
    pad_i, pad_b = np.full(n_leaves, -1), np.zeros(n_leaves, dtype=bool)
    return Tree(
        left=np.concatenate([child(nums("left_child", int)), pad_i]),
        right=np.concatenate([child(nums("right_child", int)), pad_i]),
        feature=np.concatenate([nums("split_feature", int), np.zeros(n_leaves, dtype=int)]),
        threshold=np.concatenate([nums("threshold", float), np.zeros(n_leaves)]),
        nan_left=np.concatenate([(dt & 2) != 0, pad_b]),
        value=np.concatenate([np.zeros(n_inner), leaf_value]),
        output=output,
        nan_to_zero=np.concatenate([missing_type != 2, pad_b]),
        zero_missing=np.concatenate([missing_type == 1, pad_b]),
    )
