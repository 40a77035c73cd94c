"""Damaged images in an image folder, through `genrt train` and `genrt eval`: tracebacks, crashes, hangs.

    python benchmarks/fuzz_images.py --count 300          # 300 mutants of each source image

Sources: an RGB PNG, a grey PNG and an RGB JPEG (32 x 32, random pixels, made here). Each mutant
(tests/image_mutants.py: bit flips, truncation, splices, zeroed ranges; PNG header fields with
valid CRCs, lying chunk lengths, inflating text, ICC and image chunks, APNG frame counts; JPEG
frame sizes) is put among six good images of two classes, and the folder goes through
`genrt train dcgan --data FOLDER --size 32 --steps 1` and, without resizing,
`genrt eval --real --data FOLDER`, in a child process that calls genrt's `main()`
(fuzz_models.py's runner, with its own GENRT_CACHE). A run is bad when it ends in a traceback,
a crash, a hang or an exit status other than 0 and 2. Exit status 1 when any count is not zero.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

COMMANDS = ("train", "eval")


def sources() -> dict[str, bytes]:
    """name -> the bytes of a good image to damage."""
    import numpy as np
    from PIL import Image

    found = {}
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for name, image, fmt in (("rgb.png", pixels, "PNG"), ("grey.png", pixels[:, :, 0], "PNG"),
                             ("rgb.jpg", pixels, "JPEG")):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=fmt)
        found[name] = buffer.getvalue()
    return found


def cases(found: dict[str, bytes], count: int, folder: str, seed: int):
    """(case, argv list) for each mutant and command: each mutant in a folder of its own, among good images."""
    from image_mutants import image_mutant

    rng = random.Random(seed)
    good = found["rgb.png"]
    number = 0
    for name, original in found.items():
        for _ in range(count):
            data, what = image_mutant(original, rng)
            root = os.path.join(folder, f"m{number}")
            for label in ("a", "b"):
                os.makedirs(os.path.join(root, label))
                for i in range(3):
                    with open(os.path.join(root, label, f"good{i}.png"), "wb") as f:
                        f.write(good)
            with open(os.path.join(root, "a", "mutant" + os.path.splitext(name)[1]), "wb") as f:
                f.write(data)
            case = {"source": name, "kind": "image", "what": what}
            for command in (["train", "dcgan", "--data", root, "--size", "32", "--steps", "1", "--batch-size", "4",
                             "--out", os.path.join(root, "run"), "--quiet"],
                            ["eval", "--real", "--data", root, "-n", "10"]):
                yield dict(case, command=command[0]), command
            number += 1


def main() -> int:
    from fuzz_models import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="Mutants per source image.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=120, help="Seconds one command may take.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        found = sources()
        env = dict(os.environ, GENRT_CACHE=os.path.join(folder, "cache"))
        counts = run(list(cases(found, args.count, folder, args.seed)), args.timeout, env)
    runs = sum(v for k, v in counts.items() if isinstance(k, tuple))
    for command in COMMANDS:
        print(f"{command:6s} exit 0: {counts[command, 'ok']:5d}  refused (exit 2): {counts[command, 'refused']:5d}")
    print(f"{args.count * len(found)} mutants of {len(found)} images ({', '.join(found)}), {runs} command runs: "
          f"{counts['traceback']} tracebacks, {counts['crash']} crashes, {counts['hang']} hangs")
    return 1 if counts["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
