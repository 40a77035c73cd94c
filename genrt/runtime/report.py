"""What `genrt info` reports: this install (versions, providers, genrt.ext), and one model's contract.

Each report is a plain dict (the --json output); the `*_lines` functions render it as text.
"""

from __future__ import annotations

import json
import os
import platform
from typing import Any

from genrt.errors import GenrtError
from genrt.files import file_sha256
from genrt.limits import metadata_json


def environment_report() -> dict[str, Any]:
    """genrt, Python, numpy and onnxruntime versions, the onnxruntime wheels, providers that work, genrt.ext."""
    import numpy

    import genrt.ext
    from genrt.runtime import environment
    from genrt.runtime import ort as ort_module

    report: dict[str, Any] = {
        "genrt": genrt.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "ext": genrt.ext.backend_info(),
        "onnxruntime_wheels": ort_module.installed_onnxruntime_wheels(),
    }
    try:
        ort = ort_module.import_onnxruntime()
    except GenrtError as exc:
        report["onnxruntime"] = None
        report["onnxruntime_error"] = str(exc)
        report["providers"] = []
    else:
        report["onnxruntime"] = ort.__version__
        report["providers"] = [
            {"name": p.name, "usable": p.usable, "detail": p.detail} for p in environment.probe_providers(ort)
        ]
    return report


def environment_lines(report: dict[str, Any]) -> list[str]:
    ext = report["ext"]
    if ext["backend"] == "cython":
        threads = f"OpenMP, {ext['threads']} threads" if ext["openmp"] else "serial build (no OpenMP)"
        ext_line = f"compiled Cython kernels, {threads}"
    else:
        ext_line = f"numpy fallback: {ext['reason']}"
    rows = [
        ("genrt", report["genrt"]),
        ("python", f"{report['python']} ({report['platform']})"),
        ("numpy", report["numpy"]),
        ("onnxruntime", report["onnxruntime"] or f"missing: {report.get('onnxruntime_error')}"),
        ("ort wheels", ", ".join(report["onnxruntime_wheels"]) or "none"),
        ("genrt.ext", ext_line),
    ]
    rows += [("providers" if i == 0 else "", f"{'yes' if p['usable'] else 'no '} {p['name']}: {p['detail']}")
             for i, p in enumerate(report["providers"])]
    return [f"{key:<13}{value}" for key, value in rows]


def wheel_conflict(report: dict[str, Any]) -> str | None:
    """The warning to print when more than one onnxruntime wheel is installed (they overwrite each other)."""
    wheels = report["onnxruntime_wheels"]
    if len(wheels) < 2:
        return None
    return (f"{len(wheels)} onnxruntime wheels are installed ({', '.join(wheels)}); they overwrite each other's "
            "files. Uninstall all, then install one: pip install 'genrt[cpu]' or 'genrt[gpu]'.")


def model_report(path: str, device: str = "auto") -> dict[str, Any]:
    """A model file's contract, header, source and optimization record, and where it would run."""
    from genrt.runtime.generator import Generator
    from genrt.runtime.onnxfile import read_header

    g = Generator(path, device=device)
    c = g.contract
    header = read_header(path)
    source = metadata_json(c.metadata, "genrt.source", path)
    optimized = metadata_json(c.metadata, "genrt.optimized", path)
    return {
        "path": path,
        "size_bytes": os.path.getsize(path),
        "sha256": file_sha256(path),
        "ir_version": header["ir_version"],
        "opsets": header["opsets"],
        "producer": header["producer"],
        "kind": c.kind,
        "format": c.metadata.get("genrt.format"),
        "precision": c.metadata.get("genrt.precision"),
        "latent": {"name": c.latent_name, "dim": c.latent_dim, "dtype": "float16" if c.latent_float16 else "float32"},
        "fixed_batch": c.fixed_batch,
        "label": {"name": c.label_name, "dtype": c.label_dtype} if c.conditional else None,
        "num_classes": c.num_classes,
        "class_names": list(c.class_names),
        "image": {
            "name": c.image_name,
            "shape": list(c.image_shape) if c.image_shape else None,
            "dtype": "float16" if c.image_float16 else "float32",
        },
        "output_range": list(c.output_range),
        "providers": list(g.providers),
        "assumptions": list(c.assumptions),
        "source": source,
        "optimized": optimized,
        "uint8_output": g.uint8_output,
        "digest": "checked" if g.digest_checked else "none",
    }


def model_lines(r: dict[str, Any]) -> list[str]:
    mb = r["size_bytes"] / 1e6
    classes = "unconditional"
    if r["label"]:
        names = f": {', '.join(r['class_names'])}" if r["class_names"] else ""
        count = r["num_classes"] or "unknown number of"
        classes = f"{count} classes via input '{r['label']['name']}' ({r['label']['dtype']}){names}"
    shape = "x".join(map(str, r["image"]["shape"])) if r["image"]["shape"] else "known after the first run"
    opsets = ", ".join(f"{d} {v}" for d, v in r["opsets"].items())
    fmt = f" (genrt format {r['format']}{', ' + r['precision'] if r['precision'] else ''})" if r["format"] else ""
    rows = [
        ("model", f"{r['path']} ({mb:.2f} MB, sha256 {r['sha256'][:16]})"),
        ("kind", r["kind"] + fmt),
        ("latent", f"input '{r['latent']['name']}' {r['latent']['dtype']} [{r['fixed_batch'] or 'batch'}, "
                   f"{r['latent']['dim']}]"),
        ("classes", classes),
        ("image", f"output '{r['image']['name']}' {r['image']['dtype']} C x H x W = {shape}"),
        ("range", "{:g},{:g}".format(*r["output_range"])),
        ("opset", f"{opsets}; IR {r['ir_version']}; producer {r['producer'] or 'unknown'}"),
        ("providers", ", ".join(r["providers"])),
        ("digest", "the file matches the sha256 genrt wrote into it" if r["digest"] == "checked"
         else "none: damage to this file's weights would go unnoticed (genrt export / optimize write one)"),
    ]
    if r["source"]:
        rows.append(("source", json.dumps(r["source"]) if not isinstance(r["source"], str) else r["source"]))
    o = r["optimized"]
    if isinstance(o, dict) and o.get("batch_sizes"):
        speed = ", ".join(f"batch {b} {float(o['original_ms'][str(b)]) / float(o['optimized_ms'][str(b)]):.2f}x"
                          for b in o["batch_sizes"])
        plan = o.get("plan")
        ranges = plan.get("by_batch") if isinstance(plan, dict) else None
        rows.append(("optimized", f"genrt optimize kept the {o.get('kept')} graph on {o.get('provider')}: {speed}"
                     + (f"; a plan per batch range, from batch {', '.join(str(x.get('from_batch')) for x in ranges)}"
                        if isinstance(ranges, list) else "")
                     + ("; images from image_u8" if r["uint8_output"] else "")))
    rows += [("assumed", a) for a in r["assumptions"]]
    return [f"{key:<11}{value}" for key, value in rows]
