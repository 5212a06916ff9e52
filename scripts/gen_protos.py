"""Generate the Python code of the wire contract: protos/vmsim/v1/*.proto -> client/vmsim/v1/.

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 if client/vmsim/v1 is stale

The output package is vmsim.v1, so the generated imports (`from vmsim.v1 import ...`)
resolve inside the installed client package.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("vmsim") / "v1"
OUTPUT_ROOT = ROOT / "client"
KEEP = {"__init__.py", "py.typed"}


def include_paths() -> list[str]:
    """protos/, grpc_tools' bundled google/protobuf, and googleapis-common-protos (google/rpc)."""
    bundled = str(resources.files("grpc_tools") / "_proto")
    import google.rpc  # googleapis-common-protos ships the .proto files beside the modules

    googleapis = str(Path(next(iter(google.rpc.__path__))).parent.parent)
    return [str(PROTO_ROOT), bundled, googleapis]


def generate(out_root: Path) -> None:
    """Run protoc for every .proto into out_root/vmsim/v1."""
    protos = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto")
    )
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    args = ["protoc", *[f"-I{p}" for p in include_paths()]]
    args += [f"--python_out={out_root}", f"--pyi_out={out_root}", f"--grpc_python_out={out_root}"]
    if protoc.main([*args, *protos]) != 0:
        sys.exit("protoc failed")


def generated_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*_pb2*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code is stale")
    args = parser.parse_args()
    target = OUTPUT_ROOT / PACKAGE_DIR
    if not args.check:
        for old in generated_files(target):
            (target / old).unlink()
        generate(OUTPUT_ROOT)
        print(f"generated {len(generated_files(target))} files in {target.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        fresh = Path(scratch) / PACKAGE_DIR
        names = generated_files(fresh)
        stale = [
            n
            for n in names
            if not (target / n).exists() or not filecmp.cmp(fresh / n, target / n, shallow=False)
        ]
        extra = [n for n in generated_files(target) if n not in names]
        if stale or extra:
            print(
                f"generated code is stale: {stale + extra}; run python scripts/gen_protos.py",
                file=sys.stderr,
            )
            return 1
    print("generated code is fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
