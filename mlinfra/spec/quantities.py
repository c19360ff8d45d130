"""Kubernetes-style cpu and memory quantities, normalised to plain integers.

Specs keep millicores and MiB so that sizing rules (Fargate pairs, costs, node fit) are
integer arithmetic, and renderers turn them back into canonical quantities.
"""

from __future__ import annotations

import math
import re

_CPU = re.compile(r"^(?P<num>\d+(\.\d+)?)(?P<unit>m?)$")
_MEM = re.compile(r"^(?P<num>\d+(\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|K|M|G|T)?$")
_MEM_FACTOR_MIB = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024 * 1024,
    "K": 1000 / 1024 / 1024,
    "M": 1000 * 1000 / 1024 / 1024,
    "G": 1000**3 / 1024 / 1024,
    "T": 1000**4 / 1024 / 1024,
}


def parse_cpu_millicores(value: object) -> int:
    """`1`, `0.5`, `"500m"`, `"2"` -> millicores. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError("cpu must be a number of cores (0.25, 1, 2) or millicores ('500m')")
    if isinstance(value, int | float):
        millis = float(value) * 1000
    elif isinstance(value, str) and (m := _CPU.match(value.strip())):
        num = float(m["num"])
        millis = num if m["unit"] == "m" else num * 1000
    else:
        raise ValueError("cpu must be a number of cores (0.25, 1, 2) or millicores ('500m')")
    if not math.isfinite(millis) or millis != int(millis) or millis <= 0:
        raise ValueError("cpu must be a positive whole number of millicores")
    return int(millis)


def parse_memory_mib(value: object) -> int:
    """`"2Gi"`, `"512Mi"`, `2048` (MiB) -> MiB. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError("memory must be a quantity such as '512Mi' or '2Gi', or MiB as an integer")
    if isinstance(value, int):
        mib = float(value)
    elif isinstance(value, str) and (m := _MEM.match(value.strip())):
        if m["unit"] is None:
            raise ValueError("memory needs a unit: '512Mi' or '2Gi'")
        mib = float(m["num"]) * _MEM_FACTOR_MIB[m["unit"]]
    else:
        raise ValueError("memory must be a quantity such as '512Mi' or '2Gi', or MiB as an integer")
    if mib < 1 or abs(mib - round(mib)) > 1e-9:
        raise ValueError("memory must be a positive whole number of MiB")
    return round(mib)


def format_cpu(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def format_memory(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"
