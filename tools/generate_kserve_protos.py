"""Compile the server's KServe v2 protos into `helpers/model_server/protocol/kserve/`.

Run once after changing the .proto, with a protoc whose gencode matches the protobuf pin:
    python3 -m venv /tmp/protoc && /tmp/protoc/bin/pip install grpcio-tools==1.75.1
    /tmp/protoc/bin/python -m tools.generate_kserve_protos
The messages go into a descriptor pool of their own, not protobuf's default one, so that a process
can also import tritonclient, whose compiled copy defines the same `inference.*` names.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers" / "model_server" / "protocol" / "kserve"
PROTO = "grpc_predict_v2.proto"
DEFAULT_POOL = "_descriptor_pool.Default().AddSerializedFile("
PRIVATE_POOL = "_POOL.AddSerializedFile("
POOL_LINE = "_POOL = _descriptor_pool.DescriptorPool()  # not the default pool: see the package\n"


def compile_proto(out: Path) -> None:
    """Run protoc (from grpcio-tools) for the Python module and its type stub."""
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PACKAGE}"]
    command += [f"--python_out={out}", f"--pyi_out={out}", str(PACKAGE / PROTO)]
    subprocess.run(command, check=True)


def with_private_pool(module: str) -> str:
    """The generated module, building its descriptors in a pool of its own."""
    if module.count(DEFAULT_POOL) != 1:
        raise SystemExit("protoc's output changed: no single default-pool AddSerializedFile")
    module = module.replace(DEFAULT_POOL, PRIVATE_POOL)
    anchor = "DESCRIPTOR = "
    return module.replace(anchor, POOL_LINE + anchor, 1)


def main() -> None:
    """Compile and write the module and stub next to the .proto."""
    stem = PROTO.removesuffix(".proto") + "_pb2"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        compile_proto(out)
        module = (out / f"{stem}.py").read_text()
        (PACKAGE / f"{stem}.py").write_text(with_private_pool(module))
        (PACKAGE / f"{stem}.pyi").write_text((out / f"{stem}.pyi").read_text())
    print(f"wrote {PACKAGE / stem}.py and .pyi")


if __name__ == "__main__":
    main()
