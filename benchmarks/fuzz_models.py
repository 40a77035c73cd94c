"""Damaged models through `genrt info`, `genrt sample -n 4` and `genrt optimize`: tracebacks, crashes, hangs.

    python benchmarks/fuzz_models.py --count 200          # 200 mutants of each source model, both kinds

Sources: the bundled model, its int8 variant (default.int8.onnx, shipped beside it), the
plain cGAN export (benchmarks/models) and two foreign generators (tests/onnx_models.py:
one with genrt's metadata, one without). Each source gets byte-level mutants (bit flips,
truncation, splices, zeroed ranges) and protobuf-level ones (tests/proto_mutants.py: dims,
dtypes, opsets, attributes, names, metadata, external-data locations; re-digested where
the source had a digest). Every mutant runs through the three commands in a child
process that calls genrt's `main()`; the parent counts:

- traceback: an exception other than genrt's own errors reached the top;
- crash: the child died of a signal; hang: a command ran past --timeout seconds;
- damaged and accepted: a byte-level mutant of a digested file that exited 0.
Exit status 1 when any count is not zero.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

CHILD = r"""
import faulthandler, json, signal, sys, traceback
from genrt.cli import main

class Hang(Exception):
    pass

def alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, alarm)
timeout = int(sys.argv[1])
for line in sys.stdin:
    case = json.loads(line)
    signal.alarm(timeout)
    try:
        status = main(case["argv"])
        outcome = "ok" if status == 0 else "refused" if status == 2 else f"status {status}"
    except Hang:
        outcome = "hang"
    except BaseException as exc:
        outcome = "traceback " + type(exc).__name__ + ": " + str(exc)[:200].replace("\n", " ")
    finally:
        signal.alarm(0)
    print(json.dumps({"id": case["id"], "outcome": outcome}), flush=True)
"""


def sources(folder: str) -> dict[str, str]:
    """name -> path of the models to damage."""
    from onnx_models import build_generator

    from genrt.runtime import default_model_path
    from genrt.runtime.contract import variant_path

    found = {"bundled": default_model_path()}
    plain = os.path.join(HERE, "models", "cgan_digits_plain.onnx")
    if os.path.exists(plain):
        found["plain export"] = plain
    int8 = variant_path(found["bundled"], "int8")  # the int8 variant that ships beside the bundled model
    if os.path.exists(int8):
        found["int8"] = int8
    for name, metadata in (("foreign", False), ("foreign with metadata", True)):
        path = os.path.join(folder, name.replace(" ", "_") + ".onnx")
        build_generator(path, latent_dim=8, image_shape=(1, 8, 8), num_classes=3, metadata=metadata)
        found[name] = path
    return found


def cases(found: dict[str, str], count: int, folder: str, seed: int, kinds: tuple[str, ...]):
    """(case, argv list) for each mutant and command."""
    import random

    import onnx
    from image_mutants import byte_mutant
    from proto_mutants import mutant

    from genrt.runtime.digest import DIGEST_KEY

    rng = random.Random(seed)
    number = 0
    for name, path in found.items():
        original = open(path, "rb").read()
        model = onnx.load(path)
        digested = any(p.key == DIGEST_KEY and p.value != "none" for p in model.metadata_props)
        for i in range(count):
            if kinds[i % len(kinds)] == "bytes":
                data, what = byte_mutant(original, rng)
                kind = "bytes"
            else:
                changed, what = mutant(model, rng, digest=digested)
                data, kind = changed.SerializeToString(), "protobuf"
            file = os.path.join(folder, f"m{number}.onnx")
            with open(file, "wb") as f:
                f.write(data)
            case = {"source": name, "kind": kind, "what": what, "damaged": data != original, "digested": digested}
            for command in (["info", file, "--device", "cpu"],
                            ["sample", file, "--device", "cpu", "-n", "4", "-o", f"{file}.png", "--overwrite"],
                            ["optimize", file, "-o", f"{file}.opt.onnx", "--batch", "1", "--overwrite"]):
                yield dict(case, command=command[0]), command
            number += 1


def run(todo: list, timeout: int, env: dict | None = None) -> collections.Counter:
    """Run every (case, argv) in child processes (a new one after a crash); print and count the bad outcomes.

    A case is bad when it ends in a traceback, a hang, a crash or an exit status other than 0 and 2, or when it
    is a byte-level mutant of a digested model that exited 0 ("damaged and accepted")."""
    counts, position = collections.Counter(), 0
    while position < len(todo):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(timeout)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        feed = "".join(json.dumps({"id": i, "argv": argv}) + "\n" for i, (_, argv) in enumerate(todo) if i >= position)
        out, _ = child.communicate(feed)
        for line in out.splitlines():
            if not line.startswith("{"):
                continue
            result = json.loads(line)
            case, _ = todo[result["id"]]
            position = result["id"] + 1
            outcome = result["outcome"]
            counts[case["command"], outcome if outcome in ("ok", "refused") else "bad"] += 1
            bad = outcome.startswith(("traceback", "hang", "status")) or (
                outcome == "ok" and case["kind"] == "bytes" and case.get("damaged") and case.get("digested"))
            if bad:
                counts["bad"] += 1
                counts["damaged and accepted" if outcome == "ok" else outcome.split()[0]] += 1
                print(f"{outcome[:160]}  <- {case['command']} {case['source']} ({case['kind']}: {case['what'][:80]})")
        if child.returncode != 0 and position < len(todo):
            case, _ = todo[position]
            counts["bad"] += 1
            counts["crash"] += 1
            print(f"crash (status {child.returncode}) <- {case['command']} {case['source']} ({case['what'][:80]})")
            position += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="Mutants per source model (half of each kind).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=120, help="Seconds one command may take.")
    parser.add_argument("--kind", choices=("both", "bytes", "protobuf"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        found = sources(folder)
        kinds = ("bytes", "protobuf") if args.kind == "both" else (args.kind,)
        counts = run(list(cases(found, args.count, folder, args.seed, kinds)), args.timeout)
    mutants = args.count * len(found)
    runs = sum(v for k, v in counts.items() if isinstance(k, tuple))
    for command in ("info", "sample", "optimize"):
        print(f"{command:8s} exit 0: {counts[command, 'ok']:5d}  refused (exit 2): {counts[command, 'refused']:5d}")
    print(f"{mutants} mutants of {len(found)} models ({', '.join(found)}), {runs} command runs: "
          f"{counts['traceback']} tracebacks, {counts['crash']} crashes, {counts['hang']} hangs, "
          f"{counts['damaged and accepted']} damaged digested models accepted")
    return 1 if counts["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
