"""Loading a model file: a damaged one is refused before any interpreter reads it, and the
interpreter's own chatter stays out of the output.

tflite-runtime 2.14 does not verify a flatbuffer and dies with a segmentation fault on a
truncated one; these tests cut and corrupt the real fixture models and check that the device
refuses them with one line instead (edge/flatbuffer.py).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
from pathlib import Path

import cv2
import pytest

from edge.errors import ModelError
from edge.flatbuffer import (
    CONV_2D_OPTIONS,
    METADATA_BUFFER,
    MODEL_BUFFERS,
    MODEL_METADATA,
    MODEL_SUBGRAPHS,
    OPERATOR_OPTIONS,
    OPERATOR_OPTIONS_TYPE,
    POOL_2D_OPTIONS,
    SUBGRAPH_INPUTS,
    SUBGRAPH_OPERATORS,
    SUBGRAPH_TENSORS,
    TENSOR_NAME,
    TENSOR_SHAPE,
    Damaged,
    Reader,
    check_model,
)
from edge.manifest import Manifest, manifest_path
from edge.model import _allocate_quietly, check_tflite_file, open_model
from tests import model_zoo
from tests.edge.helpers import digit_on_paper, edge_cli
from tests.edge.model_damage_sweep import damaged_copies

FIXTURE_MODELS = sorted(model_zoo.FIXTURES.glob("*.tflite"))


@pytest.mark.parametrize("path", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_every_whole_model_passes(path):
    check_model(path.read_bytes())


@pytest.mark.parametrize("path", FIXTURE_MODELS, ids=lambda p: p.stem)
def test_every_truncation_is_refused_by_name(path, tmp_path):
    cut = tmp_path / path.name
    for _, _, data in damaged_copies(path.read_bytes(), random.Random(0), cuts=40, flips=0):
        length = len(data)
        cut.write_bytes(data)
        with pytest.raises(ModelError) as err:
            check_tflite_file(cut)
        message = str(err.value)
        assert message.startswith(f"{cut}: damaged or truncated TFLite model (")
        assert message.endswith(f"; {length:,} bytes); copy it again"), message


def test_index_out_of_range_is_named(int8_model):
    """A subgraph input pointing past the tensor list: what a flipped byte there would do."""
    data = bytearray(int8_model.read_bytes())
    inputs, count = _subgraph_inputs(bytes(data))
    assert count == 1
    struct.pack_into("<i", data, inputs, 10_000)
    with pytest.raises(Damaged, match=r"refers to tensor 10000 of \d+"):
        check_model(bytes(data))


def test_a_model_without_subgraphs_is_refused(int8_model):
    data = bytearray(int8_model.read_bytes())
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    struct.pack_into("<H", data, vtable + 4 + 2 * 2, 0)  # field 2 (subgraphs) absent
    with pytest.raises(Damaged, match="no subgraph"):
        check_model(bytes(data))


def test_a_metadata_entry_pointing_past_the_buffers_is_refused(int8_model):
    """The one corruption of 180 random ones that crashed tflite-runtime before it was checked."""
    data = bytearray(int8_model.read_bytes())
    read = Reader(bytes(data))
    (metadata, *_) = read.tables(read.table(read.unpack("I", 0)), MODEL_METADATA)
    where = read.field(metadata, METADATA_BUFFER)
    struct.pack_into("<I", data, where, 0xD599E800)
    with pytest.raises(Damaged, match=rf"refers to buffer {0xD599E800} of \d+"):
        check_model(bytes(data))


def test_a_tensor_name_that_is_not_a_string_is_refused(int8_model):
    """Interpreters decode names as UTF-8: a flipped byte there was a traceback, not a reason."""
    data = bytearray(int8_model.read_bytes())
    read = Reader(bytes(data))
    (subgraph, *_) = read.tables(read.table(read.unpack("I", 0)), MODEL_SUBGRAPHS)
    (input_index,) = read.ints(subgraph, SUBGRAPH_INPUTS)
    at, length = read.vector(read.tables(subgraph, SUBGRAPH_TENSORS)[input_index], TENSOR_NAME, 1)
    assert data[at : at + length + 1] == b"image\0"
    not_text, unterminated = bytearray(data), bytearray(data)
    not_text[at] = 0xFF
    with pytest.raises(Damaged, match=rf"a name at byte {at} is not UTF-8 text"):
        check_model(bytes(not_text))
    unterminated[at + length] = ord("s")  # the interpreter would read on into the next bytes
    with pytest.raises(Damaged, match=rf"a name at byte {at} does not end where its length says"):
        check_model(bytes(unterminated))


@pytest.mark.parametrize(("batch", "reason"), [(22_025_253, "a tensor of 17,267,798,352 elements"),
                                               (-7, "a tensor has a dimension of -7")])  # fmt: skip
def test_a_damaged_shape_is_refused_before_anything_is_allocated(int8_model, batch, reason):
    """A flipped batch dimension made tflite-runtime allocate 17 GB (std::bad_alloc)."""
    data = bytearray(int8_model.read_bytes())
    read = Reader(bytes(data))
    (subgraph, *_) = read.tables(read.table(read.unpack("I", 0)), MODEL_SUBGRAPHS)
    (input_index,) = read.ints(subgraph, SUBGRAPH_INPUTS)
    image = read.tables(subgraph, SUBGRAPH_TENSORS)[input_index]
    assert read.ints(image, TENSOR_SHAPE) == [1, 28, 28, 1]
    at, _ = read.vector(image, TENSOR_SHAPE, 4)
    struct.pack_into("<i", data, at, batch)
    with pytest.raises(Damaged, match=reason):
        check_model(bytes(data))


@pytest.mark.parametrize(("options_type", "field", "name"), [
    (POOL_2D_OPTIONS, 3, "Pool2DOptions"),  # filter_width
    (CONV_2D_OPTIONS, 1, "Conv2DOptions"),  # stride_w
])  # fmt: skip
def test_a_window_of_zero_is_refused(int8_model, options_type, field, name):
    """A pooling window of 0 loads in tflite-runtime 2.14 and answers nonsense; a stride of 0
    divides by it."""
    data = bytearray(int8_model.read_bytes())
    where = _option_field(bytes(data), options_type, field)
    assert struct.unpack_from("<i", data, where)[0] >= 1
    struct.pack_into("<i", data, where, 0)
    with pytest.raises(Damaged, match=f"a {name} has a stride, dilation or window of 0"):
        check_model(bytes(data))


def test_an_interpreters_reason_is_one_line(int8_model, tmp_path):
    """A pooling stride of 1,000 passes the check; tflite-runtime 2.14 refuses it in two lines."""
    data = bytearray(int8_model.read_bytes())
    struct.pack_into("<i", data, _option_field(bytes(data), POOL_2D_OPTIONS, 1), 1000)
    wide = tmp_path / "wide.tflite"
    wide.write_bytes(data)
    with pytest.raises(ModelError) as err:
        open_model(wide)
    assert str(err.value).startswith(f"{wide}: ") and "cannot load it (" in str(err.value)
    assert "\n" not in str(err.value)


def _option_field(data: bytes, options_type: int, field: int) -> int:
    """Where option ``field`` of the first operator with options of ``options_type`` is."""
    read = Reader(data)
    (subgraph, *_) = read.tables(read.table(read.unpack("I", 0)), MODEL_SUBGRAPHS)
    operator = next(
        op
        for op in read.tables(subgraph, SUBGRAPH_OPERATORS)
        if read.scalar(op, OPERATOR_OPTIONS_TYPE, "B") == options_type
    )
    return read.field(read.subtable(operator, OPERATOR_OPTIONS), field)


def _beside_its_manifest(model: Path, folder: Path, sha256: str | None = None) -> Path:
    """A copy of ``model`` with the manifest convert would write for it (its sha256 and size)."""
    copy = folder / model.name
    data = model.read_bytes()
    copy.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest() if sha256 is None else sha256
    Manifest("lenet", "int8", copy.name, digest, len(data), {}, {}).write(manifest_path(copy))
    return copy


def _flip_a_weight(data: bytes) -> bytes:
    """One bit changed in the middle of the largest weight buffer: the flatbuffer stays whole."""
    read = Reader(data)
    buffers = read.tables(read.table(read.unpack("I", 0)), MODEL_BUFFERS)
    first, length = max((read.vector(b, 0, 1) for b in buffers), key=lambda v: v[1])
    changed = bytearray(data)
    changed[first + length // 2] ^= 0x40
    return bytes(changed)


def test_a_model_that_is_not_its_manifests_file_is_refused(int8_model, test_models, tmp_path):
    """Damage inside the weights loads and reads wrongly, and a file replaced without its
    manifest would be read with another model's threshold: the manifest's sha256 tells."""
    copy = _beside_its_manifest(int8_model, tmp_path)
    assert open_model(copy).manifest is not None  # the file it was written for
    damaged = _flip_a_weight(copy.read_bytes())
    check_model(damaged)  # whole: only the manifest can tell
    replaced = (test_models / model_zoo.file_name("lenet", "float32")).read_bytes()
    size = f"{len(damaged):,} bytes"
    for data, sizes in (
        (damaged, size),
        (replaced, f"{len(replaced):,} bytes where it says {size[:-6]}"),
    ):
        copy.write_bytes(data)
        with pytest.raises(ModelError) as err:
            open_model(copy)
        assert str(err.value) == (
            f"{copy}: not the file {copy.stem}.manifest.json was written for (sha256 "
            f"{hashlib.sha256(data).hexdigest()[:12]}…, {sizes}): damaged, or replaced without "
            "its manifest; copy the .tflite and its .manifest.json again from the same convert run"
        )
    result = edge_cli("classify", str(tmp_path / "none.png"), "--model", str(copy))
    assert result.returncode == 2
    assert result.stderr.strip() == f"digit-edge: error: {err.value}"


def test_a_manifest_without_a_sha256_is_not_checked(int8_model, tmp_path):
    copy = _beside_its_manifest(int8_model, tmp_path, sha256="")
    copy.write_bytes(_flip_a_weight(copy.read_bytes()))
    assert open_model(copy).manifest is not None


def test_a_truncated_model_is_one_line_on_the_device_not_a_crash(int8_model, tmp_path):
    """In a fresh process, as a user runs it: exit 2 and a reason, not signal 11."""
    cut = tmp_path / "half.tflite"
    cut.write_bytes(int8_model.read_bytes()[:100])
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    result = edge_cli("classify", str(image), "--model", str(cut))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"digit-edge: error: {cut}: damaged or truncated TFLite model "
        "(a field at byte 144 lies beyond the end of the file; 100 bytes); copy it again"
    )


@pytest.mark.parametrize("variant", ["int8", "float32"])
def test_a_good_run_writes_nothing_on_stderr(test_models, variant, tmp_path):
    """Both interpreters print an XNNPACK "INFO:" line when loading (tflite-runtime for float
    models): it must not reach the user."""
    image = tmp_path / "three.png"
    cv2.imwrite(str(image), digit_on_paper(3))
    model = test_models / model_zoo.file_name("lenet", variant)
    result = edge_cli("classify", str(image), "--model", str(model), "--json")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count("\n") == 1


def test_only_the_delegate_line_is_held_back(capfd):
    class Interpreter:
        def allocate_tensors(self) -> None:
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
            os.write(2, b"WARNING: something else\n")

    _allocate_quietly(Interpreter())
    assert capfd.readouterr().err == "WARNING: something else\n"


def _subgraph_inputs(data: bytes) -> tuple[int, int]:
    """(position of the first input index, number of inputs) of the model's first subgraph."""
    read = Reader(data)
    model = read.table(read.unpack("I", 0))
    (subgraph, *_) = read.tables(model, MODEL_SUBGRAPHS)
    return read.vector(subgraph, SUBGRAPH_INPUTS, 4)
