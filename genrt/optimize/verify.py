"""Verification of a rewritten graph against its original, as genrt export verifies against PyTorch.

All failures are collected and raised together as one VerificationError.
"""

from __future__ import annotations

import numpy as np

from genrt.errors import ModelError, VerificationError
from genrt.runtime.contract import read_contract
from genrt.runtime.buffers import UINT8_OUTPUT
from genrt.runtime.session import open_session

VERIFY_BATCHES = (1, 7, 64, 256)
ATOL = 1e-5  # float32 rewrites only reorder sums


def verify_against(path: str, original, contract, providers, threads=None, batch_sizes=VERIFY_BATCHES,
                   atol: float = ATOL) -> dict[int, float]:
    """Check the file at `path` against the original session: {batch: max |diff|}, or VerificationError naming all.

    The ONNX checker (full), the same inputs and outputs (names, types, symbolic batch),
    the same contract as the runtime reads it, and parity at each batch size: max
    |diff| <= atol and uint8 images within 1 level.
    """
    import onnx

    import genrt.ext as ext
    from genrt.optimize.select import feeds_for
    from genrt.runtime.ort import first_line

    problems, parity = [], {}
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:
        problems.append(f"onnx.checker: {first_line(exc)}")
    try:
        session = open_session(path, providers, threads=threads, spinning=False, name="the optimized graph")
    except ModelError as exc:
        raise VerificationError(f"optimized graph failed verification, nothing kept: {exc}") from exc
    outputs = [o for o in session.get_outputs() if o.name != UINT8_OUTPUT or UINT8_OUTPUT in
               {p.name for p in original.get_outputs()}]
    for role, mine, theirs in (("inputs", session.get_inputs(), original.get_inputs()),
                               ("outputs", outputs, original.get_outputs())):
        if [(v.name, v.type, v.shape) for v in mine] != [(v.name, v.type, v.shape) for v in theirs]:
            problems.append(f"graph {role} changed: {[(v.name, v.type, v.shape) for v in mine]}")
    with_u8 = len(outputs) < len(session.get_outputs())
    if not problems:
        read = read_contract(session, path)
        for name in ("latent_name", "latent_dim", "image_name", "image_shape", "output_range", "kind", "label_name",
                     "num_classes", "class_names"):
            if getattr(read, name) != getattr(contract, name):
                problems.append(f"contract field {name} changed from {getattr(contract, name)!r} to "
                                f"{getattr(read, name)!r}")
        for batch, feed in feeds_for(contract, batch_sizes, seed=1).items():
            expected = original.run([contract.image_name], feed)[0].astype(np.float32)
            try:
                got, *u8 = session.run([contract.image_name] + ([UINT8_OUTPUT] if with_u8 else []), feed)
            except Exception as exc:
                problems.append(f"batch {batch}: onnxruntime fails: {first_line(exc)}")
                continue
            if u8 and not np.array_equal(u8[0], ext.to_uint8(got, contract.output_range)):
                problems.append(f"batch {batch}: image_u8 differs from genrt.ext.to_uint8 of the float output")
            got = got.astype(np.float32)
            if got.shape != expected.shape:
                problems.append(f"batch {batch}: output shape {list(got.shape)}, original {list(expected.shape)}")
                continue
            same_nan = np.isnan(got) == np.isnan(expected)
            diff = np.where(same_nan, np.abs(np.nan_to_num(got) - np.nan_to_num(expected)), np.inf)
            parity[batch] = float(diff.max())
            if parity[batch] > atol:
                problems.append(f"batch {batch}: max |optimized - original| = {parity[batch]:.3g} > {atol:g}")
            if got.shape[1] not in (1, 3, 4):  # not an image genrt.ext converts; the float check above holds
                continue
            levels = np.abs(ext.to_uint8(got, contract.output_range).astype(np.int16)
                            - ext.to_uint8(expected, contract.output_range).astype(np.int16)).max()
            if levels > 1:
                problems.append(f"batch {batch}: uint8 images differ by up to {levels} levels (allowed 1)")
    if problems:
        raise VerificationError("optimized graph failed verification, nothing kept: " + "; ".join(problems))
    return parity
