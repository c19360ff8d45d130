"""mlinfra: declare a model, get a production AWS deployment per stack."""

from mlinfra.serving.version import __version__
from mlinfra.spec.declare import ModelService
from mlinfra.spec.errors import MlinfraError, SpecError

__all__ = ["MlinfraError", "ModelService", "SpecError", "__version__"]
