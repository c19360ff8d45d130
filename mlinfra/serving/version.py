"""The mlinfra version, the one place it is written.

It lives in serving/ because that is the part of mlinfra every image carries (the image has
only `mlinfra/serving/`), so the runtime reports the same version as the SDK and the wheel
(pyproject.toml reads it from here).
"""

__version__ = "0.1.0"
