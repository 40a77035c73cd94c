"""The int8 variant of an optimized graph: candidates, their error and speed, the choice.

Each float graph worth quantizing (int8_graphs) is quantized twice (quantize.py):
every convolution in int8, and the same with the layers that write the image in
float; for onnxruntime's CPU provider its sub-pixel shuffles are first written
channels-last where that saves layout passes (layout.py). A candidate over the int8
error budget (spec.TOLERANCES["int8"]) against the original graph is out; of the rest
the fastest within INT8_MEAN_LEVELS that beats the fp32 file is kept, else the fastest
within the budget; where another is faster at some batch sizes, one graph runs each its
range, as for fp32 (select.per_range, dispatch.py).
"""

from __future__ import annotations

import json
import math

import numpy as np

from genrt.errors import VerificationError
from genrt.optimize.layout import channels_last_shuffles
from genrt.optimize.onnxgraph import read_bytes, save_model, set_metadata
from genrt.optimize.quantize import error_stats
from genrt.optimize.verify import VERIFY_BATCHES
from genrt.runtime.session import open_session

INT8_MEAN_LEVELS = 1.0  # mean |int8 - fp32| an int8 choice aims at, in levels of 255 over the image's range


def int8_graphs(base, fp32_plans: list) -> dict:
    """The float graphs worth quantizing (see int8_variant); `fp32_plans` are the fp32 file's (one per batch range).

    Each chosen fp32 plan (one per batch range of the fp32 file); the same with "split" layers as "single" (a
    split layer sums several int8 convolutions, each rounded on its own; one convolution rounds once); and every
    strided layer as "phases" with the dense first layer: a float ConvTranspose has no integer kernel, so a rewrite
    too slow in float can pay in int8. Each again with the layer that writes the image left a ConvTranspose: with
    few output channels that layer is cheaper kept in float than quantized (its error is the image's), and
    onnxruntime's ConvTranspose beats a float convolution with few output channels.
    """
    from genrt.optimize.onnxgraph import OnnxGraph, infer_shapes
    from genrt.optimize.dense import dense_candidate
    from genrt.optimize.passes import LayerChoice, Plan, apply_plan, strided_layers
    from genrt.optimize.quantize import output_layers

    g = OnnxGraph(base)
    plans = {}
    for i, plan in enumerate(fp32_plans):
        name = "fp32 plan" + (f" {i + 1}" if len(fp32_plans) > 1 else "")
        plans[name] = plan
        if any(c.form == "split" for c in plan.layers.values()):
            layers = {k: LayerChoice("single", True) if c.form == "split" else c for k, c in plan.layers.items()}
            plans[f"{name}, split layers as single"] = Plan(plan.dense, plan.fold_labels, layers)
    last = fp32_plans[-1]
    dense = dense_candidate(g, infer_shapes(base)) is not None
    layers = [n.name for n in strided_layers(g)]
    plans["every layer as phases"] = Plan(dense, last.fold_labels if last.dense else False,
                                          {name: LayerChoice("phases") for name in layers})
    if layers and layers[-1] in output_layers(base):
        for name, p in list(plans.items()):
            plans[f"{name}, output layer as ConvTranspose"] = Plan(p.dense, p.fold_labels,
                                                                   {**p.layers, layers[-1]: LayerChoice("keep")})
    graphs, seen = {}, []
    for name, p in plans.items():
        if p.describe() not in seen:  # the same plan twice is quantized once
            seen.append(p.describe())
            graphs[name] = apply_plan(base, p)
    return graphs


def int8_variant(onnx, graphs, fp32_path, int8_path, stage, original, contract, timer, calibration, uint8_record,
                  log) -> dict:
    """Quantize each float graph in `graphs`; keep the fastest candidate within the int8 budget (see quantize.py).

    For each graph two candidates: every Conv in int8 (the dense first layer stays float),
    and the same with the convolutions that write the image in float too. Each is checked
    against the original fp32 graph at the verification batch sizes; one over the budget
    is out. Kept: the fastest of those within INT8_MEAN_LEVELS and faster than the fp32
    file at `fp32_path`, or else the fastest within the budget. With `uint8_record` (the
    fp32 file's image_u8 measurement) the kept file gets the image_u8 output too.
    """
    from genrt.optimize.quantize import calibration_feeds, float_layers, output_layers, quantize_qdq
    from genrt.optimize.dispatch import by_batch
    from genrt.optimize.select import feeds_for, per_range
    from genrt.spec import TOLERANCES

    budget = TOLERANCES["int8"]
    calibration_batches = calibration_feeds(contract, calibration)
    options = {}
    for graph_name, graph in graphs.items():
        options[f"{graph_name}, all convolutions"] = (graph, float_layers(graph))
        options[f"{graph_name}, output layer in float"] = (graph, float_layers(graph) + output_layers(graph))
    on_cpu = timer.providers[0] == "CPUExecutionProvider"  # layout.py: the CPU provider's channels-last int8
    built, errors, shuffles = {}, {}, {}
    for i, (name, (graph, exclude)) in enumerate(options.items()):
        graph, shuffles[name] = channels_last_shuffles(graph, exclude) if on_cpu else (graph, 0)
        source, path = stage.path(f"int8-source-{i}.onnx"), stage.path(f"int8-candidate-{i}.onnx")
        save_model(onnx, graph, source, int8_path)
        quantize_qdq(source, path, calibration_batches, exclude)
        session = open_session(path, timer.providers, threads=timer.threads, spinning=False, name="the int8 graph")
        checks = feeds_for(contract, VERIFY_BATCHES, seed=1).values()
        got = np.concatenate([session.run([contract.image_name], f)[0].ravel() for f in checks])
        expected = np.concatenate([original.run([contract.image_name], f)[0].ravel() for f in checks])
        errors[name] = e = error_stats(got, expected)
        if e["mean"] <= budget.mean_atol and e["p999"] <= budget.p999_atol and e["max"] <= budget.atol:
            built[name] = path
    if not built:
        summary = "; ".join(f"{k}: mean {v['mean']:.3g}, 99.9th pct {v['p999']:.3g}" for k, v in errors.items())
        raise VerificationError(f"int8 graph failed verification, nothing kept: over the error budget (mean "
                                f"<= {budget.mean_atol}, 99.9th pct <= {budget.p999_atol}): {summary}")
    times = timer.time({k: read_bytes(p) for k, p in {"fp32": fp32_path, **built}.items()}, race=False)

    def speed(k):  # log of the geometric mean of int8 / fp32 time over the batch sizes
        return sum(math.log(times[k][b] / times["fp32"][b]) for b in timer.feeds) / len(timer.feeds)

    low, high = contract.output_range
    target = INT8_MEAN_LEVELS * (high - low) / 255
    good = [k for k in built if errors[k]["mean"] <= target and speed(k) < 0]
    choice = min(good or built, key=speed)
    if speed(choice) >= 0:
        log("int8 is not faster than fp32 on this machine; it is written for its size only")
    split = {}

    def build(ranges):
        split["model"] = by_batch([(start, onnx.load(built[k])) for start, k in ranges])
        return split["model"].SerializeToString()

    ranges, again = per_range(timer, {k: times[k] for k in good or built}, choice, read_bytes(built[choice]),
                              timer.rounds, log, "int8 graph", build)
    if ranges:  # its errors are its worst branch's; its times scaled into the first round by the single graph's
        name = "by batch (" + "; ".join(f"from {start}: {k}" for start, k in ranges) + ")"
        errors[name] = {stat: max(errors[k][stat] for _, k in ranges) for stat in errors[choice]}
        times[name] = {b: again["by batch"][b] / again[choice][b] * times[choice][b] for b in timer.feeds}
        shuffles[name], choice, model = sum(shuffles[k] for _, k in ranges), name, split["model"]
    else:
        model = onnx.load(built[choice])
    set_metadata(model, "genrt.precision", "int8")
    if uint8_record is not None:
        from genrt.optimize.uint8 import add_uint8_output

        add_uint8_output(model, contract.image_name, contract.image_shape, contract.output_range)
        set_metadata(model, "genrt.uint8_output", json.dumps(uint8_record, sort_keys=True))
    save_model(onnx, model, int8_path, int8_path)
    report = {"choice": choice, "fp32_ms": {str(b): round(times["fp32"][b] * 1e3, 4) for b in timer.feeds},
              "original_ms": {str(b): round(times["original"][b] * 1e3, 4) for b in timer.feeds},
              "candidates": {k: {"errors": {s: float(f"{v:.3g}") for s, v in e.items()},
                                 "channels_last_shuffles": shuffles[k],
                                 "ms": {str(b): round(times[k][b] * 1e3, 4) for b in timer.feeds} if k in times else None}
                             for k, e in errors.items()}}
    log(f"int8 ({choice}): mean |err| {errors[choice]['mean']:.2e}, 99.9th pct {errors[choice]['p999']:.2e}; "
        + ", ".join(f"batch {b} {times[choice][b] / times['fp32'][b]:.2f}x fp32" for b in timer.feeds))
    return report
