"""mlinfra: declare a model, get a production AWS deployment per stack.

`ModelService` is what `services/*.py` files declare; `ServiceSpec` is the validated form a
Pulumi program of your own passes to the components in `mlinfra.aws`.
"""

from mlinfra.errors import ComponentError, MlinfraError, Problem, SpecError
from mlinfra.serving.version import __version__ as __version__  # re-exported: `mlinfra.__version__`
from mlinfra.spec.declare import ModelService
from mlinfra.spec.service import ServiceSpec

__all__ = ["ComponentError", "MlinfraError", "ModelService", "Problem", "ServiceSpec", "SpecError"]
