"""Write a new mlinfra project from the templates shipped in this package."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from mlinfra.serving.version import __version__
from mlinfra.spec.errors import MlinfraError

# template file -> where it goes in the new project
FILES = {
    "Pulumi.yaml.tmpl": "Pulumi.yaml",
    "main.py.tmpl": "__main__.py",
    "requirements.txt.tmpl": "requirements.txt",
    "service.py.tmpl": "services/example.py",
    "stack-dev.yaml.tmpl": "stacks/Pulumi.dev.yaml",
    "stack-prod.yaml.tmpl": "stacks/Pulumi.prod.yaml",
    "infra-review.yml.tmpl": ".github/workflows/infra-review.yml",
    "infra-deploy.yml.tmpl": ".github/workflows/infra-deploy.yml",
    "readme.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
}


class InitError(MlinfraError):
    """The target directory cannot take a new project."""


def project_name(directory: Path) -> str:
    """A Pulumi project name from the directory's name: lowercase letters, digits and '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    return name or "mlinfra-project"


def template(name: str) -> str:
    return resources.files("mlinfra.scaffold").joinpath("templates", name).read_text()


def write_project(directory: Path) -> list[str]:
    """Create the project in `directory` (absent or empty); the files written, relative to it."""
    if directory.exists() and not directory.is_dir():
        raise InitError(f"{directory} is a file; give `mlinfra init` a new or empty directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise InitError(
            f"{directory} is not empty; `mlinfra init` writes only into a new or empty "
            "directory: give it a new DIR (`mlinfra init my-ml-services`)"
        )
    values = {"@PROJECT@": project_name(directory), "@VERSION@": __version__}
    written = []
    for source, target in FILES.items():
        text = template(source)
        for marker, value in values.items():
            text = text.replace(marker, value)
        path = directory / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(target)
    return written
