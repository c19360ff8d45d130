"""Which types a skops file may make mlinfra build without the trusted opt-in.

skops itself trusts scikit-learn's public estimators and plain numpy/scipy data. It reports
everything else as "untrusted", as `module.name` strings that it would resolve with
`getattr(import_module(module), name)`. A name is only a name: `sklearn.datasets._rcv1.remove`
*is* `os.remove`, because that module imports it. So a type is accepted only if its exact
`module.name` is listed below AND the object it resolves to is a class defined under that
very name (its own `__module__` and `__qualname__`), never by prefix or by where it was
found. Anything else (functions, custom classes) needs MLINFRA_TRUSTED_PICKLE=true.

The list holds the internal state classes of the scikit-learn models mlinfra serves: tree
structures, boosting predictors, neighbour indexes and their metrics, Gaussian-process
kernels, calibration wrappers, optimiser state and scipy splines.
"""

from __future__ import annotations

import importlib

ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        # trees, forests, gradient boosting, isolation forest
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # nearest neighbours
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        # Gaussian processes
        "sklearn.gaussian_process.kernels.RBF",
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.WhiteKernel",
        "sklearn.gaussian_process.kernels.Matern",
        "sklearn.gaussian_process.kernels.RationalQuadratic",
        "sklearn.gaussian_process.kernels.DotProduct",
        "sklearn.gaussian_process.kernels.ExpSineSquared",
        "sklearn.gaussian_process.kernels.Product",
        "sklearn.gaussian_process.kernels.Sum",
        # calibration, ensembles of named estimators, MLP optimiser state
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.utils._bunch.Bunch",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        # SplineTransformer
        "scipy.interpolate._bsplines.BSpline",
    }
)


def is_what_it_says(name: str) -> bool:
    """True if `name` resolves (as skops would resolve it) to a class defined as `name`."""
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type) and obj.__module__ == module_name and obj.__qualname__ == attr


def refused(untrusted: list[str]) -> list[str]:
    """The types of `untrusted` (as skops reports them) that need the trusted opt-in."""
    return [t for t in untrusted if t not in ALLOWED_TYPES or not is_what_it_says(t)]
