"""A bounds check of a ``.tflite`` file's flatbuffer, before any interpreter reads it.

Why: tflite-runtime 2.14 (the interpreter of Raspberry Pi OS bookworm) does not verify a model
and crashes with a segmentation fault on a truncated one, which is what an interrupted copy to
the device leaves. This walks the parts of the TFLite schema an interpreter reads first (the
model table, its operator codes, subgraphs with their tensors and operators, its buffers, its
metadata and its signatures) and checks that every table, vector and string lies inside the file,
every name is UTF-8 ending where its length says, no shape asks for an impossible tensor, and
every index points at something that exists. It is a check for damage, not a full verifier:
a file crafted to crash an interpreter is out of its scope (ai-edge-litert verifies the whole
flatbuffer itself).
"""

from __future__ import annotations

import struct

# Field numbers in the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS = 1, 2, 4
MODEL_METADATA, MODEL_SIGNATURES = 6, 7
OPERATOR_CODE_CUSTOM_NAME = 1
METADATA_NAME, METADATA_BUFFER = 0, 1
SIGNATURE_INPUTS, SIGNATURE_OUTPUTS, SIGNATURE_KEY, SIGNATURE_SUBGRAPH = 0, 1, 2, 4
TENSOR_MAP_NAME, TENSOR_MAP_TENSOR = 0, 1
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
SUBGRAPH_NAME = 4
TENSOR_SHAPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 2, 3, 4
TENSOR_SHAPE_SIGNATURE = 7
# (field, item size) of a quantization table's min, max, scale (floats) and zero_point (longs)
QUANTIZATION_VECTORS = ((0, 4), (1, 4), (2, 4), (3, 8))
OPERATOR_OPCODE, OPERATOR_INPUTS, OPERATOR_OUTPUTS, OPERATOR_OPTIONS_TYPE = 0, 1, 2, 3
OPERATOR_OPTIONS = 4
#: The options of window operators, by their union type: (name, {field: default}) for each size
#: that must be at least 1 (strides, dilations, a pooling window). A damaged pooling window of 0
#: loads and runs in tflite-runtime 2.14, answering nonsense; a stride of 0 divides by it.
CONV_2D_OPTIONS, DEPTHWISE_CONV_2D_OPTIONS, POOL_2D_OPTIONS = 1, 2, 5  # union types
WINDOW_OPTIONS = {
    CONV_2D_OPTIONS: ("Conv2DOptions", {1: 0, 2: 0, 4: 1, 5: 1}),
    DEPTHWISE_CONV_2D_OPTIONS: ("DepthwiseConv2DOptions", {1: 0, 2: 0, 5: 1, 6: 1}),
    POOL_2D_OPTIONS: ("Pool2DOptions", {1: 0, 2: 0, 3: 0, 4: 0}),
}
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2

#: More elements than a tensor of a model that runs on a Pi has (2**28: 1 GB of float32): such a
#: shape is a damaged one, which an interpreter would try to allocate before failing, or be
#: killed for.
MAX_TENSOR_ELEMENTS = 2**28


class Damaged(ValueError):
    """The flatbuffer is not whole (it points outside itself, a name is not text, an index or a
    shape is impossible): the file is truncated or corrupt."""


class Reader:
    """Little-endian reads from the file that raise :class:`Damaged` instead of overrunning."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def unpack(self, fmt: str, at: int) -> int:
        if at < 0 or at + struct.calcsize(fmt) > len(self.data):
            raise Damaged(f"a field at byte {at} lies beyond the end of the file")
        return int(struct.unpack_from("<" + fmt, self.data, at)[0])

    def table(self, at: int) -> tuple[int, int]:
        """(table, vtable) positions of the table at ``at``: both, and every field's place
        in it, checked."""
        vtable = at - self.unpack("i", at)
        vtable_size, table_size = self.unpack("H", vtable), self.unpack("H", vtable + 2)
        if vtable_size < 4 or vtable + vtable_size > len(self.data):
            raise Damaged(f"a table's layout at byte {vtable} lies beyond the end of the file")
        if at + table_size > len(self.data):
            raise Damaged(f"a table at byte {at} runs past the end of the file")
        for slot in range(vtable + 4, vtable + vtable_size - 1, 2):
            if self.unpack("H", slot) >= table_size:
                raise Damaged(f"a field of the table at byte {at} lies outside it")
        return at, vtable

    def field(self, table: tuple[int, int], number: int) -> int | None:
        """Where field ``number`` of ``table`` is stored, or None when it is absent."""
        at, vtable = table
        slot = 4 + 2 * number
        if slot + 2 > self.unpack("H", vtable):
            return None
        offset = self.unpack("H", vtable + slot)
        return at + offset if offset else None

    def scalar(self, table: tuple[int, int], number: int, fmt: str, default: int = 0) -> int:
        where = self.field(table, number)
        return default if where is None else self.unpack(fmt, where)

    def vector(self, table: tuple[int, int], number: int, item_size: int) -> tuple[int, int]:
        """(first item position, length) of a vector field, empty when absent."""
        where = self.field(table, number)
        if where is None:
            return 0, 0
        start = where + self.unpack("I", where)
        length = self.unpack("I", start)
        if start + 4 + length * item_size > len(self.data):
            raise Damaged(f"a list of {length} items at byte {start} runs past the end of the file")
        return start + 4, length

    def string(self, table: tuple[int, int], number: int) -> None:
        """A name field is inside the file, UTF-8 and ends in the zero byte interpreters read
        it up to."""
        if self.field(table, number) is None:
            return
        first, length = self.vector(table, number, 1)
        try:
            self.data[first : first + length].decode("utf-8")
        except UnicodeDecodeError:
            raise Damaged(f"a name at byte {first} is not UTF-8 text") from None
        if self.unpack("B", first + length) != 0:
            raise Damaged(f"a name at byte {first} does not end where its length says")

    def subtable(self, table: tuple[int, int], number: int) -> tuple[int, int] | None:
        """The table a field refers to, checked, or None when the field is absent."""
        where = self.field(table, number)
        return None if where is None else self.table(where + self.unpack("I", where))

    def tables(self, table: tuple[int, int], number: int) -> list[tuple[int, int]]:
        first, length = self.vector(table, number, 4)
        return [self.table(first + 4 * i + self.unpack("I", first + 4 * i)) for i in range(length)]

    def ints(self, table: tuple[int, int], number: int) -> list[int]:
        first, length = self.vector(table, number, 4)
        return [self.unpack("i", first + 4 * i) for i in range(length)]


def check_model(data: bytes) -> None:
    """Raise :class:`Damaged` naming the first part of the model that is out of bounds."""
    read = Reader(data)
    model = read.table(read.unpack("I", 0))
    buffers = _check_buffers(read, model)
    for metadata in read.tables(model, MODEL_METADATA):
        read.string(metadata, METADATA_NAME)
        _check_index(read.scalar(metadata, METADATA_BUFFER, "I"), buffers, "buffer")
    codes = read.tables(model, MODEL_OPERATOR_CODES)
    for code in codes:
        read.string(code, OPERATOR_CODE_CUSTOM_NAME)
    subgraphs = read.tables(model, MODEL_SUBGRAPHS)
    if not subgraphs:
        raise Damaged("the model has no subgraph")
    tensors = [_check_subgraph(read, subgraph, buffers, len(codes)) for subgraph in subgraphs]
    for signature in read.tables(model, MODEL_SIGNATURES):
        read.string(signature, SIGNATURE_KEY)
        subgraph = read.scalar(signature, SIGNATURE_SUBGRAPH, "I")
        _check_index(subgraph, len(subgraphs), "subgraph")
        for number in (SIGNATURE_INPUTS, SIGNATURE_OUTPUTS):
            for tensor_map in read.tables(signature, number):
                read.string(tensor_map, TENSOR_MAP_NAME)
                index = read.scalar(tensor_map, TENSOR_MAP_TENSOR, "I")
                _check_index(index, tensors[subgraph], "tensor")


def _check_buffers(read: Reader, model: tuple[int, int]) -> int:
    """Every weight buffer lies inside the file; returns how many there are."""
    buffers = read.tables(model, MODEL_BUFFERS)
    for buffer in buffers:
        read.vector(buffer, BUFFER_DATA, 1)
        offset = read.scalar(buffer, BUFFER_OFFSET, "Q")
        if offset > 1 and offset + read.scalar(buffer, BUFFER_SIZE, "Q") > len(read.data):
            raise Damaged(f"a weight buffer at byte {offset} runs past the end of the file")
    return len(buffers)


def _check_subgraph(read: Reader, subgraph: tuple[int, int], buffers: int, codes: int) -> int:
    """A subgraph's tensors and operators are whole and refer to what exists; returns its
    number of tensors."""
    read.string(subgraph, SUBGRAPH_NAME)
    tensors = read.tables(subgraph, SUBGRAPH_TENSORS)
    for tensor in tensors:
        _check_tensor(read, tensor, buffers)
    for number in (SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS):
        for index in read.ints(subgraph, number):
            _check_index(index, len(tensors), "tensor")
    for operator in read.tables(subgraph, SUBGRAPH_OPERATORS):
        _check_index(read.scalar(operator, OPERATOR_OPCODE, "I"), codes, "operator code")
        _check_options(read, operator)
        for number in (OPERATOR_INPUTS, OPERATOR_OUTPUTS):
            for index in read.ints(operator, number):
                _check_index(index, len(tensors), "tensor", optional=True)
    return len(tensors)


def _check_options(read: Reader, operator: tuple[int, int]) -> None:
    """An operator's options lie inside the file; a window operator's sizes are at least 1."""
    options = read.subtable(operator, OPERATOR_OPTIONS)
    kind = WINDOW_OPTIONS.get(read.scalar(operator, OPERATOR_OPTIONS_TYPE, "B"))
    if options is None or kind is None:
        return
    name, sizes = kind
    for number, default in sizes.items():
        if (size := read.scalar(options, number, "i", default)) < 1:
            raise Damaged(f"a {name} has a stride, dilation or window of {size}")


def _check_tensor(read: Reader, tensor: tuple[int, int], buffers: int) -> None:
    """A tensor's shape, name and quantization lie inside the file; its buffer exists."""
    size = 1
    for dim in read.ints(tensor, TENSOR_SHAPE):
        if dim < -1:
            raise Damaged(f"a tensor has a dimension of {dim}")
        size *= max(dim, 1)
    if size > MAX_TENSOR_ELEMENTS:
        raise Damaged(f"a tensor of {size:,} elements")
    read.vector(tensor, TENSOR_SHAPE_SIGNATURE, 4)
    read.string(tensor, TENSOR_NAME)
    _check_index(read.scalar(tensor, TENSOR_BUFFER, "I"), buffers, "buffer")
    quantization = read.subtable(tensor, TENSOR_QUANTIZATION)
    if quantization is not None:
        for number, item_size in QUANTIZATION_VECTORS:
            read.vector(quantization, number, item_size)


def _check_index(index: int, count: int, what: str, optional: bool = False) -> None:
    """An index into a list of ``count`` (-1 marks an omitted optional operand)."""
    if not (0 <= index < count or (optional and index == -1)):
        raise Damaged(f"an index refers to {what} {index} of {count}")
