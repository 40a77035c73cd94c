"""genrt serve under hostile clients: real server, real sockets.

Bad bodies and routes get genrt's JSON errors, a large body is refused before it is
read (and a client still sending it reads the refusal), a client that trickles its
headers is cut off while others are served, and SIGTERM answers every request that
was sent before it.
"""

import json
import signal
import socket
import threading
import time

import pytest

from serving import get, running_server


@pytest.fixture(scope="module")
def server():
    with running_server("--max-body", 16384, "--header-timeout", 1) as started:
        yield started


def address(base):
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def answer_of(client) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := client.recv(1 << 16):
        data += chunk
    return data


def status_and_error(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/generate", {"n": 1, "format": ["png"]}, 400, "format must be one of png, zip, npy, json"),
    ("POST", "/v1/generate", {"n": 1, "format": {}}, 400, "format must be one of"),
    ("POST", "/v1/generate", {"n": 1, "nrow": {"a": 1}}, 400, "nrow must be an integer"),
    ("POST", "/v1/generate", {"n": 1, "labels": {}}, 400, "labels must be a class index or name"),
    ("POST", "/v1/generate", {"n": 1, "truncation": [1]}, 400, "truncation must be a number"),
    ("POST", "/v1/generate", b"[" * 4000, 400, "the body nests arrays or objects too deeply"),
    ("POST", "/v1/generate", b'{"a":' * 1500 + b"1" + b"}" * 1500, 400, "the body nests arrays or objects too deeply"),
    ("POST", "/v1/generate", b'{"seed": ' + b"9" * 2000 + b"}", 400, "a number in the body has 2,000 digits"),
    ("POST", "/v1/generate", b'{"truncation": NaN}', 400, "the body holds NaN, which JSON does not allow"),
    ("GET", "/v1/sample.png?n=1&n=2", None, 400, "parameter n is given twice"),
    ("GET", "/v1/sample.png?seed=" + "9" * 500, None, 400, "seed has 500 characters"),
    ("GET", "/nowhere", None, 404, "no route '/nowhere'"),
    ("GET", "/v1/models/..%2F..%2Fetc/info", None, 404, "no route"),
    ("DELETE", "/v1/sample.png", None, 405, "DELETE is not allowed on /v1/sample.png"),
    ("GET", "/v1/generate", None, 405, "GET is not allowed on /v1/generate"),
    ("GET", "/v1/interpolate.png?a=1", None, 400, "b (the seed at the strip's end) is required"),
    ("GET", "/v1/interpolate.png?a=1&b=2&steps=1", None, 400, "steps must be an integer from 2 to 256"),
])
def test_every_refusal_is_genrt_json(server, method, path, body, status, message):
    base, _, _ = server
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    code, headers, answer = get(f"{base}{path}", data, method=method)
    assert code == status, answer
    assert headers["Content-Type"] == "application/json"
    error = json.loads(answer)["error"]
    assert message in error and "Traceback" not in error and len(error) < 300, error
    assert get(f"{base}/v1/sample.png?n=1")[0] == 200


def test_a_body_past_the_cap_is_refused_before_it_is_read(server):
    base, _, _ = server
    client = socket.create_connection(address(base), timeout=30)
    client.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 100000000\r\n\r\n")  # and not one byte of the body
    status, error = status_and_error(answer_of(client))
    client.close()
    assert status == 413 and "this server takes at most 16,384" in error and "--max-body" in error
    chunked = socket.create_connection(address(base), timeout=30)  # no Content-Length: counted as it arrives
    # In one write; a client still writing after the answer is the next test's case.
    chunked.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + (b"1000\r\n" + b" " * 0x1000 + b"\r\n") * 5 + b"0\r\n\r\n")
    status, error = status_and_error(answer_of(chunked))
    chunked.close()
    assert status == 413 and "over 16,384 bytes" in error


def test_a_client_still_sending_a_refused_body_reads_its_413(server):
    """The server reads and drops the rest of a refused body for a moment before it closes (a lingering close):
    closing with the client's bytes still arriving would reset the connection and lose the answer."""
    base, _, _ = server
    for _ in range(3):
        client = socket.create_connection(address(base), timeout=30)
        client.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 200000\r\n\r\n")
        for _ in range(50):  # an uploader writes its body in pieces, whatever the server has said meanwhile
            client.sendall(b" " * 4000)
            time.sleep(0.01)
        status, error = status_and_error(answer_of(client))
        client.close()
        assert status == 413 and "this server takes at most 16,384" in error


def test_a_client_that_trickles_its_headers_is_cut_off_while_others_are_served(server):
    base, _, _ = server
    slow = socket.create_connection(address(base), timeout=30)
    cut_off = threading.Event()

    def trickle():
        try:
            for byte in b"GET /v1/sample.png?n=1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                slow.send(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            cut_off.set()

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    for _ in range(3):  # the server answers others meanwhile
        assert get(f"{base}/v1/sample.png?n=2")[0] == 200
    raw = answer_of(slow)  # returns once the server has closed the connection
    slow.close()
    status, error = status_and_error(raw)
    assert status == 408 and "did not arrive within 1 s" in error
    sender.join(30)
    assert cut_off.is_set() or not sender.is_alive()


def test_sigterm_turns_readiness_first_and_answers_everything_sent_before_it(tmp_path):
    with running_server("--grace-seconds", 2) as (base, process, lines):
        clients = []
        for seed in range(48):
            client = socket.create_connection(address(base), timeout=60)
            client.sendall(f"GET /v1/sample.png?n=4&seed={seed} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                           .encode())
            clients.append(client)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        status, _, body = get(f"{base}/readyz")
        assert status == 503 and json.loads(body)["status"] == "not ready"
        assert get(f"{base}/v1/sample.png?n=1")[0] == 200  # still serving during the grace period
        answers = [answer_of(client) for client in clients]
        for client in clients:
            client.close()
        assert process.wait(timeout=60) == 0, "".join(lines)
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers), [a[:40] for a in answers if not a.startswith(b"HTTP/1.1 200")]
    assert any("SIGTERM: /readyz answers 503" in line for line in lines)


def test_serve_limits_are_bounded_in_python_as_on_the_command_line():
    from genrt.errors import InputError
    from genrt.serve.app import ServeConfig

    for field in ("max_queue", "max_images"):
        with pytest.raises(InputError, match=f"`{field}` must be from 1 to 1,000,000,000 images"):
            ServeConfig(**{field: 10**30})
