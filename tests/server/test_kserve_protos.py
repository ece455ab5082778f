"""The server's compiled KServe v2 protos: no TensorFlow, Triton's wire format, tritonclient too."""

import json
import subprocess
import sys

from tests.server.support.servers import importable_env

IMPORT_ALONE = (
    "import json, sys\n"
    "from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as k\n"
    "service = k.DESCRIPTOR.services_by_name['GRPCInferenceService']\n"
    "print(json.dumps([service.full_name, sorted(m.name for m in service.methods),\n"
    "    sorted(n for n in sys.modules if n.split('.')[0] in ('tensorflow', 'tritonclient'))]))\n"
)

# A request built with tritonclient's own compiled messages, read back with ours, and the reverse:
# both live in one process (ours sit in a descriptor pool of their own).
ROUND_TRIP = (
    "import json\n"
    "from tritonclient.grpc import service_pb2 as triton\n"
    "from helpers.model_server.protocol.kserve import grpc_predict_v2_pb2 as ours\n"
    "sent = triton.ModelInferRequest(model_name='m', model_version='2', id='r1')\n"
    "sent.parameters['sequence_id'].uint64_param = 2**64 - 1\n"
    "sent.parameters['sequence_start'].bool_param = True\n"
    "sent.parameters['name'].string_param = 'a'\n"
    "tensor = sent.inputs.add(name='x', datatype='FP32', shape=[1, 2])\n"
    "tensor.contents.fp32_contents.extend([1.5, -2.0])\n"
    "sent.raw_input_contents.append(b'\\x00\\x01')\n"
    "read = ours.ModelInferRequest.FromString(sent.SerializeToString())\n"
    "answer = ours.ModelInferResponse(model_name='m', id='r1')\n"
    "answer.parameters['sequence_id'].string_param = 'abc'\n"
    "answer.raw_output_contents.append(b'\\x02')\n"
    "wire = answer.SerializeToString()\n"
    "back = triton.ModelInferResponse.FromString(wire)\n"
    "print(json.dumps([read.model_name, read.model_version, read.id,\n"
    "    read.parameters['sequence_id'].uint64_param,\n"
    "    read.parameters['sequence_start'].bool_param,\n"
    "    read.parameters['name'].string_param, read.inputs[0].name, list(read.inputs[0].shape),\n"
    "    list(read.inputs[0].contents.fp32_contents), read.raw_input_contents[0].hex(),\n"
    "    back.parameters['sequence_id'].string_param, back.raw_output_contents[0].hex(),\n"
    "    type(read).DESCRIPTOR.full_name == type(sent).DESCRIPTOR.full_name]))\n"
)


def run_python(code: str) -> object:
    """Run `code` in a fresh interpreter and parse the JSON it prints."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=importable_env(),
        check=True,
    )
    return json.loads(result.stdout)


def test_kserve_protos_load_without_tensorflow_and_name_the_kserve_service():
    full_name, methods, imported = run_python(IMPORT_ALONE)
    assert full_name == "inference.GRPCInferenceService"
    assert {
        "ServerLive",
        "ServerReady",
        "ServerMetadata",
        "ModelReady",
        "ModelMetadata",
        "ModelInfer",
    } <= set(methods)
    assert imported == []


def test_kserve_protos_read_tritonclient_messages_in_the_same_process():
    assert run_python(ROUND_TRIP) == [
        "m",
        "2",
        "r1",
        2**64 - 1,
        True,
        "a",
        "x",
        [1, 2],
        [1.5, -2.0],
        "0001",
        "abc",
        "02",
        True,
    ]
