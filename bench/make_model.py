"""Train one benchmark model (20 features, 20k rows) and print the path it was saved to.

usage: make_model.py FAMILY OUT_DIR   (FAMILY: hgb, rf, logreg, xgboost, lightgbm)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

family, out_dir = sys.argv[1], Path(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.normal(size=(20_000, 20))
y = (x[:, 0] + x[:, 1] * x[:, 2] - x[:, 3] > 0).astype(int)

if family in ("hgb", "rf", "logreg"):
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = {
        "hgb": lambda: HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0),
        "rf": lambda: RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0, n_jobs=1),
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    }[family]()
    path = out_dir / f"{family}.skops"
    sio.dump(model.fit(x, y), path)
elif family == "xgboost":
    import xgboost as xgb

    params = {"objective": "binary:logistic", "max_depth": 6, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=100)
    path = out_dir / "xgboost.ubj"
    booster.save_model(str(path))
elif family == "lightgbm":
    import lightgbm as lgb

    params = {"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=100)
    path = out_dir / "lightgbm.txt"
    booster.save_model(str(path))
else:
    sys.exit(f"unknown family {family!r}; allowed: hgb, rf, logreg, xgboost, lightgbm")
print(path)
