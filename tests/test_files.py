"""genrt.files and import hygiene: whole files or none, no clobbering, no process state changed at import."""

import os
import subprocess
import sys
import threading

import pytest

from genrt.errors import OutputError
from genrt.files import atomic_write, save_images


def test_racing_writers_without_overwrite_leave_one_winner(tmp_path):
    target = tmp_path / "same.png"
    outcomes = []
    start = threading.Barrier(8)

    def write(i):
        start.wait()
        try:
            with atomic_write(target, overwrite=False) as f:
                f.write(f"writer {i}".encode())
            outcomes.append(("won", i))
        except OutputError as exc:
            outcomes.append(("refused", str(exc)))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for kind, i in outcomes if kind == "won"]
    assert len(winners) == 1 and target.read_text() == f"writer {winners[0]}"
    assert all("already exists" in m for kind, m in outcomes if kind == "refused")
    assert os.listdir(tmp_path) == ["same.png"]  # no temp files left behind


def test_new_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640


def test_save_images_writes_all_or_none(tmp_path):
    import numpy as np

    images = [np.zeros((4, 4, 1), np.uint8)] * 3
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "2.png").write_bytes(b"old")
    paths = [str(tmp_path / "out" / f"{i}.png") for i in range(3)]
    with pytest.raises(OutputError, match="2.png already exists"):
        save_images(paths, images, "png", overwrite=False)
    assert os.listdir(tmp_path / "out") == ["2.png"]
    with pytest.raises(OutputError):
        save_images(paths[:2] + [str(tmp_path / "out" / "bad.png")], images[:2] + [np.zeros((2, 2))], "png", False)
    assert os.listdir(tmp_path / "out") == ["2.png"]  # the two written before the failure are taken back


def test_importing_genrt_changes_no_process_state():
    code = ("import os, sys; before = dict(os.environ); mask = os.umask(0o022); os.umask(mask)\n"
            "import genrt, genrt.ext, genrt.files, genrt.runtime, genrt.cli\n"
            "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
            "assert 'genrt.ext._kernels' not in sys.modules and 'torch' not in sys.modules\n"
            "m = os.umask(0o022); assert m == mask\n"
            "from genrt.runtime import Generator, default_model_path\n"
            "Generator(default_model_path(), device='cpu').sample(1, seed=0)\n"
            "assert dict(os.environ) == before  # library code never writes the environment\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    command_line = ("import os; from genrt.cli import main; main(['info'])\n"
                    "assert os.environ.get('OMP_WAIT_POLICY') == 'PASSIVE'  # the command asks for passive waiting\n")
    result = subprocess.run([sys.executable, "-c", command_line], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
