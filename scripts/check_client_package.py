#!/usr/bin/env python3
"""Build the typed client distribution as a user gets it and type-check a client against it.

    .venv/bin/python scripts/check_client_package.py

Builds the sdist and wheel of ``clients/python`` (``python -m build``), checks both with
``twine check --strict``, installs the wheel (and mypy) into a fresh virtual environment that
shares nothing with .venv, and runs ``mypy --strict`` there on the example clients. This is the
claim that the stubs type-check as installed: no dev tools, no source tree on the path.

``google.api`` (``HttpBody``) comes from googleapis-common-protos, which ships ``.pyi`` files
but no ``py.typed`` marker, so a client that imports it needs mypy's ``follow_untyped_imports``
for ``google.api.*``; the example that does is checked with ``--follow-untyped-imports``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "python"
#: Example client -> extra mypy flags it needs beyond ``--strict``.
EXAMPLES = {
    "whoami.py": [],
    "route_with_header.py": ["--follow-untyped-imports"],
}


def _run(*cmd: str | pathlib.Path, cwd: pathlib.Path = ROOT) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=cwd, check=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="flexinference-client-") as tmp:
        work = pathlib.Path(tmp)
        dist = work / "dist"
        _run(sys.executable, "-m", "build", "--outdir", dist, CLIENT)
        built = sorted(dist.iterdir())
        _run(sys.executable, "-m", "twine", "check", "--strict", *built)
        (wheel,) = [path for path in built if path.suffix == ".whl"]
        env = work / "venv"
        venv.create(env, with_pip=True)
        python = env / "bin" / "python"
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run(*pip, wheel, "mypy")
        for name, flags in EXAMPLES.items():
            copy = work / name
            copy.write_text((CLIENT / "examples" / name).read_text())
            _run(python, "-m", "mypy", "--strict", "--no-incremental", *flags, copy, cwd=work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
