"""Unit tests: sequence manager, config parsing, servable deviations (no server process)."""

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers.model_server.config.config_file import ConfigFileError, parse_config_text
from helpers.model_server.config.model_config import VersionPolicy, parse_version_policy
from helpers.model_server.core.sequences import SequenceManager
from helpers.model_server.core.servable import Servable
from helpers.model_server.protocol.special_inputs import SequenceRequest
from helpers.model_server.protocol.status import Code, ServingError
from helpers.serving.protocol import Control

START, NO_CONTROL, END = Control.SEQUENCE_START, Control.NO_CONTROL, Control.SEQUENCE_END


def claim(manager, sequence_id, control):
    return manager.claim(SequenceRequest(sequence_id, control))


def status_of(call):
    with pytest.raises(ServingError) as caught:
        call()
    return caught.value.code


def test_generated_ids_start_at_one_and_skip_taken_ones():
    manager = SequenceManager(10, "m")
    for sequence_id in (1, 2, 3, 4):
        manager.release(claim(manager, sequence_id, START), remove=False)
    assert claim(manager, 0, START).sequence_id == 5


def test_generated_id_wraps_past_uint64_max_and_skips_zero():
    manager = SequenceManager(10, "m", first_id=2**64 - 1)
    manager.release(claim(manager, 2**64 - 1, START), remove=False)
    assert claim(manager, 0, START).sequence_id == 1


def test_start_conflicts_terminated_and_missing():
    manager = SequenceManager(10, "m")
    sequence = claim(manager, 42, START)
    manager.release(sequence, remove=False)
    assert status_of(lambda: claim(manager, 42, START)) == Code.SEQUENCE_ALREADY_EXISTS
    ending = claim(manager, 42, END)
    assert status_of(lambda: claim(manager, 42, START)) == Code.SEQUENCE_TERMINATED
    assert status_of(lambda: claim(manager, 42, NO_CONTROL)) == Code.SEQUENCE_MISSING
    assert status_of(lambda: claim(manager, 42, END)) == Code.SEQUENCE_MISSING
    manager.release(ending, remove=True)
    assert len(manager) == 0 and ending.removed


def test_limit_counts_terminating_sequences():
    manager = SequenceManager(2, "m")
    manager.release(claim(manager, 1, START), remove=False)
    manager.release(claim(manager, 2, START), remove=False)
    ending = claim(manager, 1, END)
    assert status_of(lambda: claim(manager, 3, START)) == Code.MAX_SEQUENCE_NUMBER_REACHED
    manager.release(ending, remove=True)
    assert claim(manager, 3, START).sequence_id == 3
    assert (
        status_of(lambda: claim(SequenceManager(0, "m"), 1, START))
        == Code.MAX_SEQUENCE_NUMBER_REACHED
    )


def test_idle_scan_needs_two_scans_and_skips_claimed_sequences():
    manager = SequenceManager(10, "m")
    for sequence_id in (1, 2, 3):
        manager.release(claim(manager, sequence_id, START), remove=False)
    assert manager.remove_idle() == []
    active = claim(manager, 2, NO_CONTROL)
    active.idle = False  # what a successful request does
    manager.release(active, remove=False)
    busy = claim(manager, 3, NO_CONTROL)
    assert manager.remove_idle() == [1]
    assert manager.remove_idle() == [2]
    manager.release(busy, remove=False)
    assert manager.remove_idle() == [3]


def test_manager_lock_is_free_while_a_sequence_is_busy():
    """No head-of-line blocking: other sequences and the scan proceed while one is held."""
    manager = SequenceManager(10, "m")
    busy = claim(manager, 1, START)
    done = threading.Event()
    with busy.lock:
        waiting = threading.Thread(target=lambda: claim(manager, 1, NO_CONTROL))
        waiting.start()

        def other_work():
            manager.release(claim(manager, 2, START), remove=False)
            manager.remove_idle()
            done.set()

        worker = threading.Thread(target=other_work)
        worker.start()
        worker.join(timeout=10)
        assert done.is_set()
    waiting.join(timeout=10)


class FailingSlot:
    """An infer slot whose inference always fails."""

    states = ()

    def reset_states(self):
        pass

    def restore_states(self, saved):
        pass

    def set_inputs(self, arrays):
        pass

    def infer(self):
        raise RuntimeError("boom")

    def renew(self):
        self.renewed = True


class OnePool:
    def __init__(self, slot):
        self.slot = slot

    def take(self):
        return self.slot

    def give_back(self, slot):
        pass


def test_failed_end_still_removes_the_sequence():
    """Deviation from OVMS: no zombie sequence after an END whose inference failed."""
    manager = SequenceManager(10, "m")
    manager.release(claim(manager, 7, START), remove=False)
    servable = Servable("m", 1, {}, {}, OnePool(FailingSlot()), manager)
    with pytest.raises(ServingError) as caught:
        servable.infer_in_sequence({}, SequenceRequest(7, END))
    assert caught.value.code == Code.OV_INTERNAL_INFERENCE_ERROR
    assert str(caught.value) == "Internal inference error"
    assert len(manager) == 0
    assert claim(manager, 7, START).sequence_id == 7


CONFIG_DIR = Path("/models")


def test_config_defaults_and_values():
    (plain,) = parse_config_text(
        '{"model_config_list":[{"config":{"name":"a","base_path":"a"}}]}', CONFIG_DIR
    )
    assert (plain.stateful, plain.low_latency_transformation) == (False, False)
    assert (plain.max_sequence_number, plain.idle_sequence_cleanup) == (500, True)
    assert plain.base_path == CONFIG_DIR / "a" and plain.version_policy == VersionPolicy(
        "latest", 1
    )
    text = (
        '{"model_config_list":[{"config":{"name":"s","base_path":"/abs","stateful":true,'
        '"low_latency_transformation":true,"max_sequence_number":1000}}]}'
    )
    (stateful,) = parse_config_text(text, CONFIG_DIR)
    assert stateful.base_path == Path("/abs") and stateful.max_sequence_number == 1000
    assert stateful.low_latency_transformation and stateful.idle_sequence_cleanup


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '"low_latency_transformation":false',
            "Stateful model config parameter used for non stateful model",
        ),
        (
            '"idle_sequence_cleanup":true',
            "Stateful model config parameter used for non stateful model",
        ),
        (
            '"max_sequence_number":5,"stateful":false',
            "Stateful model config parameter used for non stateful model",
        ),
        (
            '"stateful":true,"max_sequence_number":5294967295',
            "Sequence max number parameter too high",
        ),
    ],
)
def test_bad_model_entries_are_skipped(extra, message, caplog, monkeypatch):
    text = (
        '{"model_config_list":[{"config":{"name":"bad",' + extra + '}},{"config":{"name":"good"}}]}'
    )
    caplog.set_level("ERROR", logger="model_server")
    monkeypatch.setattr(logging.getLogger("model_server"), "propagate", True)
    models = parse_config_text(text, CONFIG_DIR)
    assert [m.name for m in models] == ["good"]
    assert f"Parsing model: bad config failed due to error: {message}" in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"model_config_list":[{"config":{"name":"a","stateful":"yes"}}]}',
        '{"model_config_list":[{"config":{"name":"a","unknown_key":1}}]}',
        '{"model_config_list":[{"config":{"base_path":"a"}}]}',
        '{"model_config_list":[{"config":{"name":"a","stateful":true,"max_sequence_number":-1}}]}',
    ],
)
def test_invalid_files_are_rejected_whole(text):
    with pytest.raises(ConfigFileError):
        parse_config_text(text, CONFIG_DIR)


def test_version_policies_select_versions():
    found = [1, 3, 2, 7]
    assert VersionPolicy().select(found) == [7]
    assert parse_version_policy({"latest": {"num_versions": 2}}).select(found) == [3, 7]
    assert parse_version_policy('{"specific": {"versions": [1, 3, 9]}}').select(found) == [1, 3]
    assert parse_version_policy({"all": {}}).select(found) == [1, 2, 3, 7]
    assert np.array_equal(VersionPolicy().select([]), [])
