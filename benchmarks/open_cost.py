"""What opening a model costs, and the share of the file checks genrt adds before onnxruntime sees it.

    python benchmarks/open_cost.py [MODEL] [--repeats 21]

Times, interleaved, medians: the digest check (the sha256 of the file, genrt.sha256),
the external-data walk, creating the onnxruntime session alone, and a whole
`Generator(MODEL)` (all of them, plus reading the contract).
"""

from __future__ import annotations

import argparse
import os
import warnings

from timing import time_interleaved

from genrt.runtime import Generator, default_model_path
from genrt.runtime.digest import check_digest
from genrt.runtime.onnxfile import check_external_data
from genrt.runtime.session import open_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=default_model_path())
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    path = args.model
    funcs = {
        "digest check": lambda: check_digest(path),
        "external-data walk": lambda: check_external_data(path),
        "onnxruntime session": lambda: open_session(path),
        "Generator (all)": lambda: Generator(path, device="cpu"),
    }
    t = time_interleaved(funcs, args.repeats, warmup=1)
    print(f"{path} ({os.path.getsize(path) / 1e6:.2f} MB), medians of {args.repeats} interleaved rounds")
    for name, seconds in t.items():
        print(f"  {name:<20}{seconds * 1e3:8.2f} ms  {seconds / t['onnxruntime session']:5.2f}x the session")


if __name__ == "__main__":
    main()
