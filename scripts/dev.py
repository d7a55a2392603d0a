#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python: it bootstraps .venv on first use.

    python3 scripts/dev.py demo [flags]                   server + provider simulator + demo key
    python3 scripts/dev.py serve [flexgrpc serve flags]   run the server (SQLite by default)
    python3 scripts/dev.py test [pytest args]             run the test suite
    python3 scripts/dev.py gen                            regenerate the typed stubs
    python3 scripts/dev.py check-gen                      regenerate and fail on any diff
    python3 scripts/dev.py lint                           ruff, mypy --strict, buf, import-linter
    python3 scripts/dev.py fuzz-rest [--max-examples N]   schemathesis against a demo server
    python3 scripts/dev.py check-client                   build the client wheel + sdist, twine
                                                          check, mypy --strict in a fresh venv
    python3 scripts/dev.py node-install                   npm ci for the Node SDK tests (cached)
    python3 scripts/dev.py flexgrpc [args]                any flexgrpc command

The Makefile's targets call this script, so `make test` and this are the same thing.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".flexgrpc-installed"
INSTALL_INPUTS = [ROOT / "pyproject.toml", ROOT / "clients" / "python" / "pyproject.toml"]


def _run(*cmd: str | os.PathLike[str], check: bool = True) -> int:
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in INSTALL_INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def bootstrap() -> None:
    """Create .venv and install the server, the stubs and the dev tools, when out of date."""
    want = _inputs_digest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("bootstrapping .venv …", file=sys.stderr)
        venv.create(VENV, with_pip=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(*pip, "--upgrade", "pip")
    _run(*pip, "-e", "clients/python", "-e", ".[dev]")
    STAMP.write_text(want)


def node_install() -> int:
    """``npm ci`` in tests/node when its lockfile changed since the last install (the Node SDK
    tests skip, saying why, when node or the packages are missing)."""
    node_dir = ROOT / "tests" / "node"
    lock = node_dir / "package-lock.json"
    stamp = node_dir / "node_modules" / ".flexgrpc-installed"
    if stamp.exists() and stamp.read_bytes() == lock.read_bytes():
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("npm is not installed: the Node SDK tests will be skipped", file=sys.stderr)
        return 0
    quiet = ("--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
    code = subprocess.run([npm, "ci", *quiet], cwd=node_dir, check=False).returncode
    if code == 0:
        stamp.write_bytes(lock.read_bytes())
    return code


def check_gen() -> int:
    """Regenerate, and fail when that changed any checked-in file."""
    _run(BIN / "python", "scripts/gen_protos.py")
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "protos", "clients", "docs/openapi.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if changed:
        print("make gen changed checked-in files; commit the regenerated code:\n" + changed)
        return 1
    return 0


_SCRIPTS = {
    "check-gen": check_gen,
    "check-client": lambda: _run(BIN / "python", "scripts/check_client_package.py", check=False),
    "node-install": node_install,
}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    bootstrap()
    if command == "bootstrap":
        return 0
    if command in ("serve", "demo"):
        return _run(BIN / "flexgrpc", command, *rest, check=False)
    if command == "flexgrpc":
        return _run(BIN / "flexgrpc", *rest, check=False)
    if command == "test":
        return _run(BIN / "pytest", *rest, check=False)
    if command == "fuzz-rest":
        return _run(BIN / "python", "scripts/fuzz_rest.py", *rest, check=False)
    if command == "gen":
        return _run(BIN / "python", "scripts/gen_protos.py", check=False)
    if command in _SCRIPTS:
        return _SCRIPTS[command]()
    if command == "lint":
        steps = [
            [BIN / "ruff", "check", "."],
            [BIN / "ruff", "format", "--check", "."],
            [BIN / "mypy"],
            [BIN / "mypy", "--strict", "clients/python/examples"],
            [BIN / "buf", "lint"],
            [BIN / "buf", "format", "-d", "--exit-code"],
            [BIN / "lint-imports"],
        ]
        failed = [" ".join(map(str, s)) for s in steps if _run(*s, check=False) != 0]
        for step in failed:
            print(f"lint failed: {step}", file=sys.stderr)
        return 1 if failed else 0
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
