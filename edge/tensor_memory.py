"""Zero-copy access to a batch-1 interpreter's input and output memory.

The single-image path is a few microseconds of Python around a few microseconds of ``invoke()``,
so copies and wrapper checks are a third of its cost. The public API offers two ways in:
``set_tensor``/``get_tensor`` copy (0.35 µs each), and ``interpreter.tensor(i)()`` returns a view
whose base is the interpreter's C++ wrapper, so ``invoke()`` refuses to run while it is alive and
it must be fetched anew for every image (0.5 µs). The arrays made here point at the same memory
without referencing the wrapper, so they are made once and kept.

They stay valid as long as the tensors are not reallocated. On a static graph that happens only
in ``allocate_tensors()`` (or a resize), which :class:`edge.model.DigitClassifier` never calls
again on its single-image interpreter. :func:`tensor_memory` checks, before anyone relies on
them, that a write through ``input`` is what the model reads, that ``output`` shows what
``get_tensor`` returns, and that neither address moves across ``invoke()``; where any check
fails (or an interpreter lacks the pieces) it returns None and callers take the copying path.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorMemory:
    """The interpreter's own input and output buffers, and an ``invoke`` that runs on them."""

    input: np.ndarray  # the input tensor's memory, in the model's input shape and dtype
    output: np.ndarray  # the output tensor's memory, flat
    #: The C++ ``Invoke`` without the Python wrapper's check for live ``tensor()`` views
    #: (0.28 µs of a 7 µs dense-model call): the arrays above are not such views.
    invoke: Callable[[], None]


def tensor_memory(interpreter: Any, input_index: int, output_index: int) -> TensorMemory | None:
    """Zero-copy arrays over an allocated interpreter's tensors, or None where that is unsafe."""
    wrapped_invoke = getattr(type(getattr(interpreter, "_interpreter", None)), "Invoke", None)
    if wrapped_invoke is None or not hasattr(interpreter, "tensor"):
        return None

    def invoke() -> None:
        # Unbound and looked up per call: holding the wrapper (or a bound method of it) would
        # itself count as a live view and make the public invoke() refuse to run.
        wrapped_invoke(interpreter._interpreter)

    try:
        inp, in_address = _unpinned(interpreter, input_index)
        out, out_address = _unpinned(interpreter, output_index)
    except (AttributeError, TypeError, ValueError):
        return None
    memory = TensorMemory(inp, out.reshape(-1), invoke)
    return memory if _behaves(interpreter, memory, input_index, output_index) and (
        _address(interpreter, input_index) == in_address
        and _address(interpreter, output_index) == out_address
    ) else None  # fmt: skip


def _address(interpreter: Any, index: int) -> int:
    view = interpreter.tensor(index)()
    return int(view.__array_interface__["data"][0])


def _unpinned(interpreter: Any, index: int) -> tuple[np.ndarray, int]:
    """An array over tensor ``index``'s memory whose base is not the interpreter's wrapper."""
    view = interpreter.tensor(index)()
    address = int(view.__array_interface__["data"][0])
    shape, dtype, nbytes = view.shape, view.dtype, view.nbytes
    del view  # the pinning view must be gone before the next invoke()
    buffer = (ctypes.c_char * nbytes).from_address(address)
    buffer._owner = interpreter  # type: ignore[attr-defined]  # the memory lives while this does
    return np.frombuffer(buffer, dtype=dtype).reshape(shape), address


def _behaves(interpreter: Any, memory: TensorMemory, input_index: int, output_index: int) -> bool:
    """Inputs written through ``memory`` give the outputs set_tensor/get_tensor give.

    Each probe is written over the other one, so a write that missed the model's real input
    (or an output array that is not the real output) shows as a wrong result.
    """
    shape, dtype = memory.input.shape, memory.input.dtype
    rng = np.random.default_rng(0)
    if dtype.kind == "f":
        probes = [rng.random(shape).astype(dtype), np.zeros(shape, dtype)]
    else:
        info = np.iinfo(dtype)
        probes = [rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype),
                  np.full(shape, info.min, dtype)]  # fmt: skip
    wanted = []
    for probe in probes:
        interpreter.set_tensor(input_index, probe)
        interpreter.invoke()
        wanted.append(interpreter.get_tensor(output_index).reshape(-1).copy())
    for probe, want in zip(probes, wanted, strict=True):  # the tensor holds the last probe
        memory.input[...] = probe
        memory.invoke()
        if not (
            np.array_equal(memory.output, want)
            and np.array_equal(interpreter.get_tensor(output_index).reshape(-1), want)
            and np.array_equal(interpreter.get_tensor(input_index), probe)
        ):
            return False
    return True
