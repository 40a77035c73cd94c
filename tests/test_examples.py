"""examples/serve_http.py: the embedding example really serves PNG grids from a shared Generator."""

import importlib.util
import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genrt.ext as ext
from genrt.runtime import Generator
from onnx_models import build_generator

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "serve_http.py"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("serve_http", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = build_generator(tmp_path_factory.mktemp("serve") / "cgan.onnx", num_classes=3, image_shape=(3, 6, 6),
                            class_names=["x", "y", "z"])
    generator = Generator(model, device="cpu")
    server = module.make_server(generator, port=0)  # port 0: any free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", generator
    server.shutdown()
    server.server_close()


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["Content-Type"], response.read()


def test_sample_png_is_the_generators_grid(served):
    base, generator = served
    kind, body = get(f"{base}/sample.png?n=6&seed=4&label=y&nrow=3")
    assert kind == "image/png"
    grid = np.asarray(Image.open(io.BytesIO(body)))
    np.testing.assert_array_equal(grid, ext.make_grid(generator.sample(6, seed=4, labels="y"), nrow=3))


def test_concurrent_requests_get_their_own_images(served):
    base, generator = served
    results = {}

    def fetch(seed):
        results[seed] = get(f"{base}/sample.png?n=5&seed={seed}")[1]

    threads = [threading.Thread(target=fetch, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed, body in results.items():
        expected = ext.make_grid(generator.sample(5, seed=seed), nrow=8)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(body))), expected)


def test_info_and_bad_requests(served):
    base, _ = served
    kind, body = get(f"{base}/info")
    assert kind == "application/json"
    assert json.loads(body)["class_names"] == ["x", "y", "z"]
    for query, message in [("label=9", "label 9 is out of range"), ("n=abc", "n must be a number"),
                           ("n=100000", "n must be at most 256"), ("seed=-1", "seed must be a non-negative"),
                           ("nrow=0", "nrow must be")]:
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(f"{base}/sample.png?{query}")
        assert caught.value.code == 400 and message in caught.value.reason
