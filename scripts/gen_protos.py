"""Regenerate the typed Python stubs in clients/python from protos/ (``make gen``).

Steps, each deterministic so that CI can regenerate and fail on any diff:
1. vendor the googleapis protos we import from the installed ``googleapis-common-protos``;
2. check the generator versions are the ones the stubs package pins;
3. run grpc_tools' protoc with mypy-protobuf (typed ``.pyi`` for messages and services, sync and
   aio) into clients/python/src, and ship the ``.proto`` files beside the generated code;
4. write the REST shim's OpenAPI description (the one ``GET /openapi.json`` serves) to
   docs/openapi.json, so that a diff shows every change of the HTTP API.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "clients" / "python" / "src"
PACKAGE = OUT / "flexinference" / "v1"
OPENAPI = ROOT / "docs" / "openapi.json"

VENDORED = [
    "google/api/annotations.proto",
    "google/api/field_behavior.proto",
    "google/api/http.proto",
    "google/api/httpbody.proto",
    "google/api/resource.proto",
    "google/type/date.proto",
]

#: The generator versions the checked-in code was made with (clients/python/pyproject.toml pins
#: the runtime to them). Bump together.
EXPECTED = {
    "grpcio-tools": "1.85.1",
    "mypy-protobuf": "5.1.0",
    "googleapis-common-protos": "1.76.0",
}


def check_versions() -> None:
    wrong = {
        name: (want, importlib.metadata.version(name))
        for name, want in EXPECTED.items()
        if importlib.metadata.version(name) != want
    }
    if wrong:
        detail = ", ".join(f"{n} {got} (want {want})" for n, (want, got) in wrong.items())
        sys.exit(f"gen: generator versions differ from the pinned ones: {detail}")


def vendor_google_protos() -> None:
    import google.api  # the googleapis-common-protos package ships the .proto sources

    source_root = pathlib.Path(next(iter(google.api.__path__))).parent.parent
    for rel in VENDORED:
        dest = PROTOS / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_root / rel, dest)


def generate() -> None:
    import grpc_tools

    well_known = pathlib.Path(next(iter(grpc_tools.__path__))) / "_proto"
    for stale in PACKAGE.glob("*_pb2*"):
        stale.unlink()
    sources = sorted(
        str(p.relative_to(PROTOS)) for p in (PROTOS / "flexinference").rglob("*.proto")
    )
    bindir = pathlib.Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    ]
    subprocess.run(cmd, check=True, cwd=PROTOS)
    for rel in sources:
        shutil.copyfile(PROTOS / rel, OUT / rel)


def write_openapi() -> None:
    # In a fresh interpreter: this one may have imported the stubs from before step 3.
    script = (
        "import sys, pathlib;"
        "from google.protobuf import descriptor_pool;"
        "from flexgrpc.server import PUBLIC_METHODS, SERVICE_NAMES;"
        "from flexgrpc.rest.openapi import describe_services, render;"
        "pool = descriptor_pool.Default();"
        "services = [pool.FindServiceByName(n) for n in SERVICE_NAMES];"
        "pathlib.Path(sys.argv[1]).write_bytes(render(describe_services(services, PUBLIC_METHODS)))"
    )
    subprocess.run([sys.executable, "-c", script, str(OPENAPI)], check=True, cwd=ROOT)


def main() -> None:
    check_versions()
    vendor_google_protos()
    generate()
    write_openapi()


if __name__ == "__main__":
    main()
