"""Post-training refinements of a full-integer TFLite file, measured against its float twin.

The converter calibrates each activation tensor's range from its min and max over the
representative images and rounds every weight to the nearest step. Three cheap corrections use
the same images (training data; never the validation or test split):

- **Weight rounding by output error** (GPTQ, Frantar et al. 2022; in the spirit of AdaRound,
  Nagel et al. 2020). Each ``CONV_2D`` / ``FULLY_CONNECTED``'s int8 weights are re-chosen on
  their own grid (same scales, same range) so that the layer's output on the calibration inputs
  (the int8 graph's own, after the layers before it are refined) stays close to float, instead
  of each weight being rounded to its nearest step independently.

- **Empirical bias correction** (Nagel et al. 2019, "Data-Free Quantization", section 4.2;
  Banner et al. 2019). Rounding weights and activations shifts each output channel's mean a
  little; for the logits that systematic shift moves every close decision the same way. For each
  ``CONV_2D`` / ``FULLY_CONNECTED`` in order, the mean per-channel difference between the int8
  output (dequantized) and the float graph's is measured on the calibration images and subtracted
  from the int32 bias (in bias steps). With a fused ReLU only the outputs both graphs leave clearly
  above zero are used, where the ReLU is the identity. Layers are corrected in order, each with
  the inputs the corrected layers before it produce.
- **Logit range by task loss.** The softmax input's range from min/max covers logits far below
  each image's largest one (−35 when only the top ~10 matter to softmax) and far above the
  second-largest, which costs resolution exactly where close decisions are made. The range
  ``[lo, hi]`` of that tensor is chosen among narrowings of the min/max range by the mean
  Σ|p_int8 − p_float| on the calibration images (the int8 logits are computed exactly from the
  layer's int8 inputs, weights and bias, the 1/256 softmax output grid simulated), never worse
  than min/max on that loss nor on agreement with the float graph.

All three only rewrite numbers the file already has (int8 weight values, int32 bias values, one
tensor's scale and zero point): same operators and versions, same size. Anything this module does
not recognise (an operator sequence that differs from the float twin's, a fused activation other
than none/ReLU) is left as the converter wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convert.flatbuf import schema
from edge.quantization import QuantParams, quantize

_TFL = schema()
CONV_2D = _TFL.BuiltinOperator.CONV_2D
DEQUANTIZE = _TFL.BuiltinOperator.DEQUANTIZE
FULLY_CONNECTED = _TFL.BuiltinOperator.FULLY_CONNECTED
SOFTMAX = _TFL.BuiltinOperator.SOFTMAX
QUANTIZE = _TFL.BuiltinOperator.QUANTIZE
ACT_NONE = _TFL.ActivationFunctionType.NONE
ACT_RELU = _TFL.ActivationFunctionType.RELU
FLOAT32, INT32, INT8 = _TFL.TensorType.FLOAT32, _TFL.TensorType.INT32, _TFL.TensorType.INT8
SAME = _TFL.Padding.SAME
#: Narrowing factors tried for each end of the softmax input range.
RANGE_FACTORS = tuple(np.round(np.arange(1.0, 0.09, -0.05), 2))


@dataclass
class Refinement:
    """What :func:`refine_int8` changed, for tests and the docs."""

    bias_steps: dict[int, np.ndarray] = field(default_factory=dict)  # op index -> per channel
    rounded: dict[int, int] = field(default_factory=dict)  # op index -> weights not nearest
    logit_range: tuple[tuple[float, float], tuple[float, float]] | None = None  # before, after
    loss: tuple[float, float] | None = None  # mean sum |dp| on calibration, before/after range
    skipped: str = ""


def open_on_builtin_kernels(blob: bytes):
    """An interpreter on TFLite's built-in kernels (the path tflite-runtime 2.14 takes for int8)
    that keeps every intermediate tensor readable."""
    from edge.runtime import load_runtime

    runtime = load_runtime()
    it = runtime.interpreter_class(
        model_content=bytes(blob),
        num_threads=1,
        experimental_preserve_all_tensors=True,
        **runtime.interpreter_kwargs("builtin"),
    )
    it.allocate_tensors()
    return it


def run_tensors(blob: bytes, images: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
    """Run ``blob`` one image at a time and return each listed tensor for every image,
    dequantized to float (the input quantized from float images by the device's own rule)."""
    it = open_on_builtin_kernels(blob)
    inp = it.get_input_details()[0]
    x = quantize(
        np.asarray(images, np.float32).reshape((-1, *inp["shape"][1:])),
        QuantParams.from_details(inp),
    )
    details = {d["index"]: d for d in it.get_tensor_details()}
    out = {t: np.empty((len(x), *details[t]["shape"][1:]), np.float32) for t in tensors}
    for n in range(len(x)):
        it.set_tensor(inp["index"], x[n : n + 1])
        it.invoke()
        for t in tensors:
            out[t][n] = it.get_tensor(t)[0]
    for t in tensors:
        q = details[t]["quantization_parameters"]
        if len(q["scales"]) == 1 and q["scales"][0]:
            out[t] = (out[t] - q["zero_points"][0]) * q["scales"][0]
    return out


def refine_int8(
    blob: bytes,
    float_blob: bytes,
    images: np.ndarray,
    *,
    bias_correction: bool = True,
    logit_range: bool = True,
    rounding: bool = True,
) -> tuple[bytes, Refinement]:
    """``blob`` (a full-integer file) with its biases corrected and its logit range chosen on
    ``images`` against ``float_blob`` (the float32 conversion of the same model). Returns the
    new bytes and what changed; the bytes unchanged when the two graphs do not match."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    info = Refinement()
    model = fu.read_model_from_bytearray(bytearray(blob))
    fmodel = fu.read_model_from_bytearray(bytearray(float_blob))
    if len(model.subgraphs) != 1 or len(fmodel.subgraphs) != 1:
        info.skipped = "more than one subgraph"
        return blob, info
    # uint8 I/O adds QUANTIZE ops at the ends; the rest must match the float graph op for op
    ops = [
        op for op in model.subgraphs[0].operators if _code(model, op) not in (QUANTIZE, DEQUANTIZE)
    ]
    fops = list(fmodel.subgraphs[0].operators)
    codes = [_code(model, op) for op in ops]
    if codes != [_code(fmodel, op) for op in fops]:
        info.skipped = "operators differ from the float graph's"
        return blob, info

    reference = run_tensors(float_blob, images, [int(op.outputs[0]) for op in fops])
    tensors = model.subgraphs[0].tensors
    if bias_correction or rounding:
        for k, op in enumerate(ops):
            bias = _bias(model, op) if codes[k] in (CONV_2D, FULLY_CONNECTED) else None
            act = getattr(op.builtinOptions, "fusedActivationFunction", None)
            if bias is None or act not in (ACT_NONE, ACT_RELU):
                continue
            if rounding:
                changed = _round_weights(model, fmodel, op, fops[k], codes[k], images)
                if changed is not None:
                    info.rounded[k] = changed
            if not bias_correction:
                continue
            out_t = int(op.outputs[0])
            ours = run_tensors(_bytes(model), images, [out_t])[out_t]
            ref = reference[int(fops[k].outputs[0])]
            step = float(tensors[out_t].quantization.scale[0])
            # with a fused ReLU, only where it is the identity in both graphs
            relu = act == ACT_RELU
            mask = (ref > 2 * step) & (ours > 0) if relu else np.ones(ref.shape, bool)
            channels = ref.shape[-1]
            diff = np.where(mask, ours - ref, 0.0).reshape(-1, channels).sum(axis=0)
            count = mask.reshape(-1, channels).sum(axis=0)
            err = np.where(count >= 32, diff / np.maximum(count, 1), 0.0)
            in_scale = float(tensors[int(op.inputs[0])].quantization.scale[0])
            w_scale = np.asarray(tensors[int(op.inputs[1])].quantization.scale, np.float64)
            steps = np.round(err / (in_scale * w_scale)).astype(np.int64)
            bias -= steps.astype(np.int32)
            info.bias_steps[k] = steps
    if logit_range:
        _choose_logit_range(model, ops, codes, images, reference, fops, info)
    return _bytes(model), info


def _choose_logit_range(model, ops, codes, images, reference, fops, info: Refinement) -> None:
    """Set the softmax input's (scale, zero point) to the narrowing of its min/max range that
    minimises the mean Σ|Δp| against the float graph on ``images``."""
    tensors = model.subgraphs[0].tensors
    k_soft = next((k for k, c in enumerate(codes) if c == SOFTMAX), None)
    if k_soft is None or k_soft == 0 or codes[k_soft - 1] != FULLY_CONNECTED:
        return
    fc, soft = ops[k_soft - 1], ops[k_soft]
    logits_t = int(soft.inputs[0])
    if int(fc.outputs[0]) != logits_t or fc.builtinOptions.fusedActivationFunction != ACT_NONE:
        return
    if tensors[logits_t].type != INT8:
        return
    bias = _bias(model, fc)
    t_in, t_w = tensors[int(fc.inputs[0])], tensors[int(fc.inputs[1])]
    if bias is None or len(t_in.shape) != 2:
        return
    x = run_tensors(_bytes(model), images, [int(fc.inputs[0])])[int(fc.inputs[0])]
    in_scale = float(t_in.quantization.scale[0])
    w = model.buffers[t_w.buffer].data.view(np.int8).reshape(t_w.shape).astype(np.int64)
    w_scale = np.asarray(t_w.quantization.scale, np.float64)
    x_q = np.round(x / in_scale).astype(np.int64)  # (q - zero point): the integer the kernel uses
    real = (x_q @ w.T + bias.astype(np.int64)) * (in_scale * w_scale)  # exact int8 logits, float
    beta = float(getattr(soft.builtinOptions, "beta", 1.0) or 1.0)
    p_ref = reference[int(fops[k_soft].outputs[0])]
    label_ref = np.argmax(p_ref, axis=1)

    q = tensors[logits_t].quantization
    scale0, zero0 = float(q.scale[0]), int(q.zeroPoint[0])
    lo0, hi0 = (-128 - zero0) * scale0, (127 - zero0) * scale0
    if not lo0 < 0 < hi0:
        return

    def evaluate(lo: float, hi: float) -> tuple[float, int, float, int]:
        scale = (hi - lo) / 255.0
        zero = int(np.clip(np.round(-128 - lo / scale), -128, 127))
        logits = (np.clip(np.round(real / scale) + zero, -128, 127) - zero) * scale
        z = beta * (logits - logits.max(axis=1, keepdims=True))
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p = np.clip(np.round(p * 256.0), 0, 255) / 256.0  # the int8 softmax output grid
        loss = float(np.mean(np.abs(p - p_ref).sum(axis=1)))
        return loss, int(np.sum(np.argmax(p, axis=1) != label_ref)), scale, zero

    base = evaluate(lo0, hi0)
    best = base
    for a in RANGE_FACTORS:
        for b in RANGE_FACTORS:
            cand = evaluate(lo0 * a, hi0 * b)
            if cand[0] < best[0] - 1e-9 and cand[1] <= base[1]:
                best = cand
    q.scale = [np.float32(best[2])]
    q.zeroPoint = [int(best[3])]
    lo, hi = (-128 - best[3]) * best[2], (127 - best[3]) * best[2]
    info.logit_range = ((lo0, hi0), (lo, hi))
    info.loss = (base[0], best[0])


def _round_weights(model, fmodel, op, fop, code, images) -> int | None:
    """Re-round one layer's int8 weights on their own grid (same scales, same [-127, 127]) to
    minimise the error of the layer's output on the calibration inputs, GPTQ-style (Frantar et al.
    2022, from Optimal Brain Quantization): weights are rounded one input at a time and each
    rounding error is compensated on the inputs not yet rounded, through the inverse of the
    inputs' second-moment matrix. Returns how many weights differ from nearest rounding, or None
    when the layer is not one this handles (grouped or dilated convolution, per-tensor scale
    mismatch, a single input)."""
    tensors, ftensors = model.subgraphs[0].tensors, fmodel.subgraphs[0].tensors
    t_w, f_w = tensors[int(op.inputs[1])], ftensors[int(fop.inputs[1])]
    if f_w.type != FLOAT32 or tuple(t_w.shape) != tuple(f_w.shape):
        return None
    q = model.buffers[t_w.buffer].data.view(np.int8).reshape(t_w.shape[0], -1)
    w = fmodel.buffers[f_w.buffer].data.view(np.float32).reshape(q.shape).astype(np.float64)
    if q.shape[1] < 2:
        return None
    x = run_tensors(_bytes(model), images, [int(op.inputs[0])])[int(op.inputs[0])]
    if code == CONV_2D:
        x = _patches(x, op, t_w.shape)
        if x is None:
            return None
    else:
        x = x.reshape(-1, q.shape[1])
    scale = np.broadcast_to(np.asarray(t_w.quantization.scale, np.float64), (q.shape[0],))
    new = _gptq(w, scale, x.astype(np.float64))
    changed = int(np.sum(new != np.clip(np.round(w / scale[:, None]), -127, 127)))
    q[:] = new.astype(np.int8)
    return changed


def _patches(x: np.ndarray, op, w_shape) -> np.ndarray | None:
    """im2col of ``x`` (n, h, w, c) for a CONV_2D with weights (out, kh, kw, c): rows of
    kh·kw·c values in the weights' order; None for dilation or groups."""
    opt = op.builtinOptions
    _, kh, kw, c = (int(d) for d in w_shape)
    if x.shape[-1] != c or getattr(opt, "dilationHFactor", 1) != 1:
        return None
    if getattr(opt, "dilationWFactor", 1) != 1:
        return None
    sh, sw = int(opt.strideH), int(opt.strideW)
    _, h, w_, _ = x.shape
    if int(opt.padding) == SAME:  # zeros (the int8 kernels pad with the zero point = 0.0)
        oh, ow = -(-h // sh), -(-w_ // sw)
        ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - w_, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // sh + 1, (w_ - kw) // sw + 1
    cols = [
        x[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw, :]
        for i in range(kh)
        for j in range(kw)
    ]
    return np.stack(cols, axis=3).reshape(-1, kh * kw * c)


def _gptq(w: np.ndarray, scale: np.ndarray, x: np.ndarray, damp: float = 0.01) -> np.ndarray:
    """Integer weights (out, d) on the grid ``scale`` (per row) for float weights ``w`` that
    keep ``x @ w.T`` (x: calibration inputs, n × d) close: GPTQ with a damped Hessian."""
    hess = x.T @ x / len(x)
    hess += damp * max(float(np.mean(np.diag(hess))), 1e-12) * np.eye(len(hess))
    upper = np.linalg.cholesky(np.linalg.inv(hess)).T
    w = w.copy()
    out = np.empty(w.shape, np.int64)
    for i in range(w.shape[1]):  # all rows at once, one input column at a time
        out[:, i] = np.clip(np.round(w[:, i] / scale), -127, 127)
        err = (w[:, i] - out[:, i] * scale) / upper[i, i]
        w[:, i + 1 :] -= np.outer(err, upper[i, i + 1 :])
    return out


def _code(model, op) -> int:
    oc = model.operatorCodes[op.opcodeIndex]
    return max(int(oc.builtinCode), int(getattr(oc, "deprecatedBuiltinCode", 0) or 0))


def _bias(model, op) -> np.ndarray | None:
    """The op's int32 bias values as a writable view into the model's buffer, or None."""
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return None
    t = model.subgraphs[0].tensors[int(op.inputs[2])]
    w = model.subgraphs[0].tensors[int(op.inputs[1])]
    data = model.buffers[t.buffer].data
    if t.type != INT32 or w.type != INT8 or data is None or len(data) == 0:
        return None
    return data.view(np.int32)


def _bytes(model) -> bytes:
    from tensorflow.lite.tools import flatbuffer_utils as fu

    return bytes(fu.convert_object_to_bytearray(model))
