"""The one Predict pipeline of both front ends, in OVMS's order of checks.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.

Each front end passes an `InputDecoder` for its wire form (gRPC TensorProtos, REST JSON) and
encodes the outputs it gets back; the steps and their order live here only: model lookup,
decoding, special inputs, input names, arrays, the run.
"""

from collections.abc import Collection
from typing import Protocol, TypeVar

import numpy as np

from helpers.model_server.core.manager import ModelManager
from helpers.model_server.core.servable import Outputs, Servable
from helpers.model_server.protocol.signature import TensorSpec
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.validation import check_input_names

Raw = TypeVar("Raw", contravariant=True)
Decoded = TypeVar("Decoded")


class InputDecoder(Protocol[Raw, Decoded]):
    """How one front end reads a request's inputs; each method raises its wire's OVMS errors."""

    def decode(self, raw: Raw, servable: Servable) -> Decoded:
        """The request's inputs in a form the other methods read (REST parses its JSON here)."""
        ...

    def special_inputs(self, decoded: Decoded) -> tuple[SequenceRequest, int]:
        """The sequence request and how many special inputs were sent (stateful models only)."""
        ...

    def input_names(self, decoded: Decoded) -> Collection[str]:
        """Every tensor name sent, special inputs included."""
        ...

    def array(self, decoded: Decoded, spec: TensorSpec) -> np.ndarray:
        """The checked array of one model input (its name was sent: the names are checked)."""
        ...


def run_predict(
    manager: ModelManager,
    name: str,
    version: int,
    raw: Raw,
    decoder: InputDecoder[Raw, Decoded],
) -> tuple[Decoded, Outputs, int | None]:
    """Run one Predict; returns the decoded inputs, the outputs and the sequence id (stateful)."""
    servable = manager.resolve(name, version)
    decoded = decoder.decode(raw, servable)
    sequence_request, special_count = None, 0
    if servable.stateful:
        sequence_request, special_count = decoder.special_inputs(decoded)
    sent = decoder.input_names(decoded)
    if servable.controls is not None:
        servable.controls.refuse_sent(sent)
    check_input_names(servable.inputs, sent, special_count)
    arrays = {
        input_name: decoder.array(decoded, spec) for input_name, spec in servable.inputs.items()
    }
    if sequence_request is None:
        return decoded, servable.infer(arrays), None
    outputs, sequence_id = servable.infer_in_sequence(arrays, sequence_request)
    return decoded, outputs, sequence_id
