"""Entry point the Pulumi CLI runs for `--policy-pack policypack`."""

import sys
from pathlib import Path

# The rules live in the SDK next to this folder; the pack uses them, not a copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlinfra_pack import policies
from pulumi_policy import PolicyPack

PolicyPack(name="mlinfra", policies=policies())
