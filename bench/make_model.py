"""Train the benchmark model: HistGradientBoostingClassifier, 100 iterations, 20 features."""

from __future__ import annotations

import sys

import numpy as np
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier

rng = np.random.default_rng(0)
x = rng.normal(size=(20_000, 20))
y = (x[:, 0] + x[:, 1] * x[:, 2] - x[:, 3] > 0).astype(int)
model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0)
sio.dump(model.fit(x, y), sys.argv[1])
