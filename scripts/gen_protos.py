"""Generate the Python code of the wire contract: protos/vmsim_proto/v1/*.proto -> common/vmsim_proto/v1/.

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 if any generated file is stale (CI)

Besides protoc's *_pb2 modules it writes the client's result records and the server's
converters from the same descriptors (scripts/wire_records.py says which and why), and the
asyncio client's call methods from the synchronous client's (scripts/async_client.py).

The protos are laid out by package path and compiled with proto_path=protos into client/,
so the generated imports (`from vmsim.v1 import common_pb2`) resolve inside the client package.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import google.rpc
from async_client import AIO_METHODS_OUTPUT, CLIENT_SOURCE, render_async_methods
from google.protobuf import descriptor_pb2
from grpc_tools import protoc  # type: ignore[import-untyped]
from wire_records import CLIENT_OUTPUT, SERVER_OUTPUT, render_client, render_server

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("vmsim_proto") / "v1"
OUTPUT_ROOT = ROOT / "common"


def include_paths() -> list[str]:
    """protos/, grpc_tools' bundled google/protobuf, and googleapis-common-protos' google/rpc.

    googleapis-common-protos (a dependency of grpcio-status) ships status.proto beside its
    compiled module; its site-packages root is the include path for `google/rpc/status.proto`.
    """
    bundled = str(resources.files("grpc_tools") / "_proto")
    googleapis = str(Path(next(iter(google.rpc.__path__))).parent.parent)
    return [str(PROTO_ROOT), bundled, googleapis]


def generate(out_root: Path, records_root: Path) -> None:
    """Run protoc on every vmsim/v1 .proto, writing *_pb2.py, *_pb2.pyi and *_pb2_grpc.py
    under *out_root*, then the records and converters (wire_records.py) under *records_root*."""
    protos = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto")
    )
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        descriptors = Path(scratch) / "vmsim.pb"
        args = ["grpc_tools.protoc", *[f"--proto_path={p}" for p in include_paths()]]
        args += [f"--python_out={out_root}", f"--pyi_out={out_root}"]
        args += [f"--grpc_python_out={out_root}"]
        args += [f"--descriptor_set_out={descriptors}", "--include_source_info"]
        if protoc.main([*args, *protos]) != 0:
            raise SystemExit("protoc failed (see its message above)")
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes())
    for path, text in (
        (CLIENT_OUTPUT, render_client(files)),
        (SERVER_OUTPUT, render_server(files)),
        (AIO_METHODS_OUTPUT, render_async_methods((ROOT / CLIENT_SOURCE).read_text())),
    ):
        (records_root / path).parent.mkdir(parents=True, exist_ok=True)
        (records_root / path).write_text(text)


def generated_files(directory: Path) -> list[str]:
    """Names of the generated files in *directory* (__init__.py and py.typed are hand-written)."""
    return sorted(p.name for p in directory.glob("*_pb2*.py*"))


def stale_files(fresh: Path, current: Path) -> list[str]:
    """Generated files that differ, are missing from *current*, or should no longer exist."""
    expected = generated_files(fresh)
    differing = [
        name
        for name in expected
        if not (current / name).exists()
        or not filecmp.cmp(fresh / name, current / name, shallow=False)
    ]
    leftover = [name for name in generated_files(current) if name not in expected]
    return differing + leftover


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate, or with --check compare a fresh generation with the checked-in code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code is stale")
    args = parser.parse_args(argv)
    target = OUTPUT_ROOT / PACKAGE_DIR
    if not args.check:
        for old in generated_files(target):
            (target / old).unlink()
        generate(OUTPUT_ROOT, ROOT)
        print(f"generated {len(generated_files(target))} files in {target.relative_to(ROOT)}")
        print(f"generated {CLIENT_OUTPUT}, {SERVER_OUTPUT} and {AIO_METHODS_OUTPUT}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch), Path(scratch))
        stale = stale_files(Path(scratch) / PACKAGE_DIR, target)
        stale += [
            str(path)
            for path in (CLIENT_OUTPUT, SERVER_OUTPUT, AIO_METHODS_OUTPUT)
            if not (ROOT / path).exists()
            or not filecmp.cmp(Path(scratch) / path, ROOT / path, shallow=False)
        ]
    if stale:
        print(
            f"generated code is stale ({', '.join(stale)}): run python scripts/gen_protos.py",
            file=sys.stderr,
        )
        return 1
    print("generated code is fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
