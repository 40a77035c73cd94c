"""genrt serve: a real uvicorn server on the loopback address, real sessions, real sockets.

Most tests start `genrt serve` as a subprocess (as a user would) and talk HTTP to it
with urllib. The queue and disconnect tests run the app in a thread around a
Generator whose runs wait on a gate, so that what is queued at each moment is known.
"""

import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

import genrt.ext as ext
from genrt.files import png_bytes
from genrt.runtime import Generator, default_model_path
from onnx_models import build_generator
from serving import GatedGenerator, get, in_process_server, running_server


@pytest.fixture(scope="module")
def server():
    with running_server() as started:
        yield started


@pytest.fixture(scope="module")
def bundled():
    return Generator(default_model_path(), device="cpu")


def grid(images, nrow=8):
    return png_bytes(ext.make_grid(images, nrow=nrow))


def test_a_grid_is_byte_identical_to_genrt_sample(server, tmp_path):
    base, _, lines = server
    status, headers, body = get(f"{base}/v1/sample.png?n=6&seed=4&label=3&nrow=3")
    assert status == 200 and headers["Content-Type"] == "image/png" and headers["X-Genrt-Seed"] == "4"
    out = tmp_path / "cli.png"
    subprocess.run([sys.executable, "-m", "genrt.cli", "sample", "--device", "cpu", "-n", "6", "--seed", "4",
                    "--label", "3", "--nrow", "3", "-o", str(out)], check=True, capture_output=True)
    assert body == out.read_bytes()
    time.sleep(0.2)
    assert any(re.fullmatch(r"GET /v1/sample.png 200 6 images [0-9.]+ ms\n", line) for line in lines), lines


def test_generate_in_every_format(server, bundled):
    base, _, _ = server
    labels = [1, 2, 3, 4, 5]
    expected = bundled.sample(5, seed=2, labels=labels, truncation=0.7)
    request = {"n": 5, "seed": 2, "labels": labels, "truncation": 0.7}
    status, headers, body = get(f"{base}/v1/generate", {**request, "format": "npy"})
    assert status == 200 and headers["X-Genrt-Images"] == "5"
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), expected)
    status, _, body = get(f"{base}/v1/generate", {**request, "format": "zip"})
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [f"seed2_{i:04d}.png" for i in range(5)]
        for i, name in enumerate(archive.namelist()):
            np.testing.assert_array_equal(np.asarray(Image.open(archive.open(name)))[..., None], expected[i])
    status, _, body = get(f"{base}/v1/generate", {**request, "format": "json"})
    report = json.loads(body)
    assert report["seed"] == 2 and report["shape"] == [28, 28, 1] and len(report["images"]) == 5
    status, _, body = get(f"{base}/v1/generate", {**request, "nrow": 5})
    assert body == grid(expected, nrow=5)
    status, headers, _ = get(f"{base}/v1/generate", {"n": 1})  # no seed: one is drawn and returned
    assert status == 200 and int(headers["X-Genrt-Seed"]) >= 0


def test_info_health_metrics_and_docs(server):
    base, _, _ = server
    status, _, body = get(f"{base}/v1/info")
    contract = json.loads(body)
    assert contract["num_classes"] == 10 and contract["image_shape"] == [1, 28, 28] and contract["digest"] == "checked"
    assert get(f"{base}/healthz")[0] == 200
    assert json.loads(get(f"{base}/readyz")[2])["status"] == "ready"
    status, headers, body = get(f"{base}/metrics")
    text = body.decode()
    assert headers["Content-Type"].startswith("text/plain") and "# TYPE genrt_batch_images histogram" in text
    assert 'genrt_queue_images{model="default"} 0' in text
    spec = json.loads(get(f"{base}/openapi.json")[2])
    assert spec["openapi"].startswith("3.") and "/v1/generate" in spec["paths"]
    assert b"/v1/sample.png" in get(f"{base}/docs")[2]


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/sample.png?n=0", None, 400, "n must be an integer from 1 to 1,024, got 0"),
    ("/v1/sample.png?n=5000", None, 400, "n must be an integer from 1 to 1,024"),
    ("/v1/sample.png?n=abc", None, 400, "n must be a number, got 'abc'"),
    ("/v1/sample.png?seed=-1", None, 400, "seed must be an integer from 0"),
    ("/v1/sample.png?label=99", None, 400, "label 99 is out of range: this model has classes 0..9"),
    ("/v1/sample.png?label=%C2%B2", None, 400, "is not a class of this model"),
    ("/v1/sample.png?truncation=2", None, 400, "truncation must be a number in (0, 1]"),
    ("/v1/sample.png?nrow=0", None, 400, "nrow must be an integer from 1"),
    ("/v1/sample.png?size=3", None, 400, "unknown parameter 'size'"),
    ("/v1/generate", b"{not json", 400, "the body is not JSON"),
    ("/v1/generate", b"[1, 2]", 400, "the body must be a JSON object"),
    ("/v1/generate", {"n": 2, "format": "bmp"}, 400, "format must be one of png, zip, npy, json"),
    ("/v1/generate", {"n": 3, "labels": [1, 2]}, 400, "expected 1 or 3 labels, got 2"),
    ("/v1/generate", {"n": 2, "labels": True}, 400, "labels must be a class index or name"),
    ("/v1/generate", {"count": 2}, 400, "unknown field 'count'"),
    ("/v1/models/nope/info", None, 404, "no model 'nope'; served: default"),
    ("/nowhere", None, 404, ""),
])
def test_bad_requests_get_a_clear_answer_and_the_server_keeps_serving(server, path, body, status, message):
    base, _, _ = server
    code, headers, answer = get(f"{base}{path}", body)
    assert code == status, answer
    if message:
        assert json.loads(answer)["error"].startswith(message) or message in json.loads(answer)["error"], answer
    assert get(f"{base}/v1/sample.png?n=1")[0] == 200


def test_concurrent_requests_share_runs_and_keep_their_images(bundled):
    """Eight single-image requests at once, --max-batch 8 and a long --max-delay-ms: joined into one run (or two,
    on a slow machine), each answer the grid of its own seed; a request of 20 is split into runs of 8."""
    with running_server("--max-batch", 8, "--max-delay-ms", 5000) as (base, _, _):
        results, start = {}, threading.Barrier(8)

        def fetch(seed):
            start.wait()
            results[seed] = get(f"{base}/v1/sample.png?n=1&seed={seed}")

        threads = [threading.Thread(target=fetch, args=(seed,)) for seed in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for seed, (status, _, body) in results.items():
            assert status == 200 and body == grid(bundled.sample(1, seed=seed))
        metrics = get(f"{base}/metrics")[2].decode()
        runs = int(re.search(r'genrt_batch_images_count\{model="default"\} (\d+)', metrics).group(1))
        assert 1 <= runs < 8, metrics  # joined, not one run per request
        assert 'genrt_batch_images_sum{model="default"} 8' in metrics
        status, _, body = get(f"{base}/v1/generate", {"n": 20, "seed": 5, "format": "npy"})
        np.testing.assert_array_equal(np.load(io.BytesIO(body)), bundled.sample(20, seed=5))


def test_several_models_under_their_names(tmp_path):
    other = build_generator(tmp_path / "small.onnx", image_shape=(3, 6, 6))
    with running_server("--model", f"digits={default_model_path()}", "--model", f"small={other}") as (base, _, _):
        names = [m["name"] for m in json.loads(get(f"{base}/v1/models")[2])["models"]]
        assert names == ["digits", "small"]
        status, _, body = get(f"{base}/v1/models/small/sample.png?n=4&seed=1&nrow=2")
        assert status == 200 and body == grid(Generator(other, device="cpu").sample(4, seed=1), nrow=2)
        status, _, body = get(f"{base}/v1/sample.png?n=1")
        assert status == 404 and "several models are served (digits, small)" in json.loads(body)["error"]


def test_sigterm_finishes_the_request_in_flight_and_exits_0(bundled):
    with running_server("--max-images", 4096, "--max-queue", 4096) as (base, process, lines):
        host, port = base.removeprefix("http://").split(":")
        client = socket.create_connection((host, int(port)), timeout=60)
        client.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 42\r\n\r\n" + b'{"n": 4096, "seed": 9, "format": "npy"}   ')
        time.sleep(0.5)  # the request is read and running (4,096 images take over a second here)
        process.send_signal(signal.SIGTERM)
        response = b""
        while chunk := client.recv(1 << 20):
            response += chunk
        client.close()
        assert process.wait(timeout=60) == 0, "".join(lines)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    np.testing.assert_array_equal(np.load(io.BytesIO(body)), bundled.sample(4096, seed=9))
    assert "genrt serve: stopped\n" in lines


# ------------------------------------------------------------ the queue, in process


def test_a_full_queue_answers_503_and_a_gone_client_drops_its_work():
    from genrt.serve.app import ServeConfig

    g = GatedGenerator(default_model_path(), device="cpu")
    with in_process_server({"digits": g}, ServeConfig(max_batch=4, max_delay_ms=0, max_queue=2, max_images=2)) as base:
        g.armed = True
        first = {}
        running = threading.Thread(target=lambda: first.update(answer=get(f"{base}/v1/sample.png?n=1&seed=3")))
        running.start()
        assert g.entered.wait(30)  # the first request holds the worker
        host, port = base.removeprefix("http://").split(":")
        gone = socket.create_connection((host, int(port)), timeout=30)
        gone.sendall(b"GET /v1/sample.png?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        while 'genrt_queue_images{model="digits"} 2' not in get(f"{base}/metrics")[2].decode():
            time.sleep(0.05)
        status, headers, body = get(f"{base}/v1/sample.png?n=1")
        assert status == 503 and headers["Retry-After"] == "1"
        assert "the queue holds 2 of at most 2 images" in json.loads(body)["error"]
        gone.close()  # the client leaves: its two queued images must never run
        time.sleep(0.3)
        g.gate.set()
        running.join(30)
        assert first["answer"][0] == 200 and first["answer"][2] == grid(g.sample(1, seed=3))
        deadline = time.monotonic() + 30
        while 'genrt_dropped_images_total{model="digits"} 2' not in get(f"{base}/metrics")[2].decode():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        metrics = get(f"{base}/metrics")[2].decode()
        assert 'genrt_batch_images_sum{model="digits"} 1' in metrics  # only the first request's image ran


def test_serve_never_imports_torch():
    code = ("import sys\nfrom genrt.serve.app import build_app\nfrom genrt.cli import main\n"
            "status = main(['serve', '--help'])\nprint(status, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().endswith("0 False"), result.stdout + result.stderr
