"""mlinfra: declare a model, get a production AWS deployment per stack."""

from mlinfra.errors import MlinfraError, SpecError
from mlinfra.spec.declare import ModelService

__all__ = ["MlinfraError", "ModelService", "SpecError"]
__version__ = "0.1.0"
