"""The OpenAPI 3.1 description of `genrt serve` (/openapi.json) and a self-contained page of it (/docs).

The page needs no JavaScript or CDN, so it works on machines without a network.
"""

from __future__ import annotations

import html

from genrt.serve.requests import FORMATS, MAX_SEED


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def spec(config) -> dict:
    """The OpenAPI document for a server with `config` (a ServeConfig): its limits appear in the schemas."""
    n = {"type": "integer", "minimum": 1, "maximum": config.max_images, "default": 16}
    seed = {"type": "integer", "minimum": 0, "maximum": MAX_SEED}
    label = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}
    truncation = {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1}
    nrow = {"type": "integer", "minimum": 1, "maximum": 4096, "default": 8}
    error = {"description": "one line saying what was wrong and how to fix it",
             "content": {"application/json": {"schema": {"type": "object",
                                                         "properties": {"error": {"type": "string"}}}}}}
    images = {
        "parameters": [
            _query("n", n, "images"),
            _query("seed", seed, "seed of the latents; drawn and returned in X-Genrt-Seed when left out"),
            _query("label", label, "class index or name for every image (conditional models)"),
            _query("truncation", truncation, "scale latents toward 0 (z * t); 1 = off"),
            _query("nrow", nrow, "grid columns"),
        ],
        "responses": {"200": {"description": "a PNG grid, the same bytes as genrt sample with these options",
                              "content": {"image/png": {}}},
                      "400": error, "404": error, "503": error, "500": error},
    }
    generate = {
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "n": n, "seed": seed, "truncation": truncation, "nrow": nrow,
            "labels": {"oneOf": [label, {"type": "array", "items": label}]},
            "format": {"enum": list(FORMATS), "default": "png"}}}}}},
        "responses": {"200": {"description": "png: a grid; zip: one PNG per image; npy: the uint8 N x H x W x C "
                                             "array; json: base64 PNGs",
                              "content": {kind: {} for kind in FORMATS.values()}},
                      "400": error, "404": error, "503": error, "500": error},
    }
    info = {"responses": {"200": {"description": "the model contract", "content": {"application/json": {}}},
                          "404": error}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    paths = {
        "/v1/sample.png": {"get": {"summary": "A grid of samples (one model served)", **images}},
        "/v1/generate": {"post": {"summary": "Samples in a chosen format (one model served)", **generate}},
        "/v1/info": {"get": {"summary": "The model contract (one model served)", **info}},
        "/v1/models": {"get": {"summary": "Every served model's contract", **info}},
        "/v1/models/{name}/sample.png": {"get": {"summary": "A grid of samples from model NAME",
                                                 **images, "parameters": [name, *images["parameters"]]}},
        "/v1/models/{name}/generate": {"post": {"summary": "Samples from model NAME", **generate,
                                                "parameters": [name]}},
        "/v1/models/{name}/info": {"get": {"summary": "Model NAME's contract", **info, "parameters": [name]}},
        "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "the process answers"}}}},
        "/readyz": {"get": {"summary": "Models loaded and warmed",
                            "responses": {"200": {"description": "ready"}, "503": {"description": "not yet"}}}},
        "/metrics": {"get": {"summary": "Prometheus text format", "responses": {"200": {"description": "metrics"}}}},
    }
    return {"openapi": "3.1.0", "info": {"title": "genrt serve", "version": "1"}, "paths": paths}


def html_page(config) -> str:
    rows = []
    for path, methods in spec(config)["paths"].items():
        for method, operation in methods.items():
            params = ", ".join(p["name"] for p in operation.get("parameters", []))
            rows.append(f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(operation['summary'])}</td><td>{html.escape(params)}</td></tr>")
    return ("<!doctype html><meta charset=utf-8><title>genrt serve</title><h1>genrt serve</h1>"
            "<p>The machine-readable description: <a href=/openapi.json>/openapi.json</a>.</p>"
            "<table border=1 cellpadding=4><tr><th>method<th>path<th>what<th>parameters</tr>"
            + "".join(rows) + "</table>")
