"""mlinfra: declare a model, get a production AWS deployment per stack."""

from mlinfra.spec.declare import ModelService
from mlinfra.spec.errors import MlinfraError, SpecError

__all__ = ["MlinfraError", "ModelService", "SpecError"]
__version__ = "0.1.0"
