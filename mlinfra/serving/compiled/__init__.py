"""Models compiled at image-build time into plain numpy arrays.

Build time (`python -m mlinfra.serving.compiled MODEL`, in the image's build stage where the
framework is installed): `convert` reads the model with its own framework, writes
`<model file>.mlinfra.npz` (arrays + a JSON header with a format version) and keeps it only
if it reproduces the framework's predictions bit for bit on probe rows (`verify`).

Run time: `artifact.load_sidecar` finds that file next to the model and `program` evaluates
it with numpy alone, so the serving process never imports scikit-learn, SciPy, skops,
XGBoost or LightGBM. The runtime modules here (artifact, program, trees, steps) import only
numpy and the standard library; the build-time modules import the frameworks lazily.
"""
