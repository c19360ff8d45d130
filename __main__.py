"""Pulumi entry point: `pulumi up --stack staging|prod` runs exactly what `mlinfra plan` runs."""

from mlinfra.program import run

run()
