"""The mlinfra model server (runs inside the generated image).

Imports nothing heavy: `python -m mlinfra.serving` is the entry point, and
`mlinfra.serving.metric_names` is importable on its own by the SDK's monitoring code.
"""
