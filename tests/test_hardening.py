"""Hostile input: contradictory or broken metadata, impossible options, failures inside onnxruntime.

Each case must end as one `genrt: error:` line with exit status 2 (from the CLI) or a
GenrtError (from Python): never a traceback, never onnxruntime's own log lines, and
nothing written.
"""

import os

import numpy as np
import onnx
import pytest

from genrt.cli import main
from genrt.errors import InputError, ModelError
from genrt.runtime import Generator, default_model_path


def with_metadata(tmp_path, name, **changes):
    """A copy of the bundled model with some genrt.* metadata replaced (None: removed), and its digest marked
    "none" (any edit breaks it: test_the_digest_is_written_checked_and_reported), as a person accepts an edit."""
    model = onnx.load(default_model_path())
    kept = {p.key: p.value for p in model.metadata_props} | {"genrt.sha256": "none"}
    for key, value in changes.items():
        kept.pop(key, None) if value is None else kept.__setitem__(key, value)
    del model.metadata_props[:]
    for key, value in kept.items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def cli(capsys, *args):
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    return status, err


def assert_one_line(err, *fragments):
    lines = err.strip().splitlines()
    assert lines[-1].startswith("genrt: error: ") and "Traceback" not in err, err
    assert not any("onnxruntime:" in line and "[E:" in line for line in lines), err  # no onnxruntime log line
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])


BROKEN_METADATA = {
    "range not numbers": ({"genrt.output_range": "abc"}, "genrt.output_range='abc' is not two finite numbers"),
    "empty range": ({"genrt.output_range": "1,1"}, "genrt.output_range='1,1' is not two finite numbers"),
    "class names not JSON": ({"genrt.class_names": "[not json"}, "genrt.class_names is not JSON"),
    "class names nested deep": ({"genrt.class_names": "[" * 5000 + "]" * 5000},
                                "genrt.class_names nests deeper than 32 levels"),
    "class names miscounted": ({"genrt.class_names": '["a", "b"]'}, "lists 2 class names for 10 classes"),
    "image shape not numbers": ({"genrt.image_shape": "a,b"}, "genrt.image_shape='a,b' is not C,H,W"),
    "image shape contradicts the graph": ({"genrt.image_shape": "3,28,28"}, "but its output 'image' is 1,28,28"),
    "negative classes": ({"genrt.num_classes": "-3"}, "genrt.num_classes='-3' is not an integer >= 0"),
    "latent size not a number": ({"genrt.latent_dim": "x"}, "genrt.latent_dim='x' is not an integer >= 1"),
    "latent size contradicts the graph": ({"genrt.latent_dim": "64"}, "genrt.latent_dim=64 but its input 'z' takes"),
    "classes contradict the label table": ({"genrt.num_classes": "12", "genrt.class_names": None},
                                           "genrt.num_classes=12 but its label input 'label' indexes a table of 10 rows"),
    "no classes for a label input": ({"genrt.num_classes": "0", "genrt.class_names": None},
                                     "genrt.num_classes=0 but the graph has a label input 'label'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_METADATA))
def test_broken_metadata_is_refused_at_open(tmp_path, capsys, case):
    changes, message = BROKEN_METADATA[case]
    path = with_metadata(tmp_path, "broken", **changes)
    with pytest.raises(ModelError, match="export the model again") as info:
        Generator(path, device="cpu")
    assert message in str(info.value)
    status, err = cli(capsys, "sample", path, "--device", "cpu", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, message)
    assert sorted(os.listdir(tmp_path)) == ["broken.onnx"]


@pytest.mark.parametrize("args, message", [
    (["--label", "²"], "label '²' is not a class of this model"),  # str.isdigit() is true, int() fails
    (["--label", "5000000000"], "label 5000000000 is out of range: this model has classes 0..9"),
    (["--label", "all", "-n", "10000000"], "a grid of 100,000,000 images 28x28 would take 78,400 MB"),
    (["--interpolate", "100000000"], "a grid of 800,000,000 images 28x28"),
    (["--range", "-inf,inf"], "--range must be two finite numbers lo < hi"),
    (["--range", "1,0"], "--range must have LO < HI"),
    (["--latent-dim", "7"], "--latent-dim 7 contradicts"),
    (["--threads", "100000"], "--threads must be an integer from 1 to"),
])
def test_impossible_options_are_refused(tmp_path, capsys, args, message):
    status, err = cli(capsys, "sample", default_model_path(), "--device", "cpu", "-o", tmp_path / "out.png", *args)
    assert status == 2
    assert_one_line(err, message)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["bench", "{model}", "--seconds", "inf"], "--seconds must be a number above 0 and at most 3600, got inf"),
    (["bench", "{model}", "--seconds", "nan"], "--seconds must be a number above 0"),
    (["bench", "{model}", "--iters", "1000000000000"], "--iters must be from 1 to 1,000,000"),
    (["bench", "{model}", "--warmup", "1000000000"], "--warmup must be from 0 to 100,000"),
    (["optimize", "{model}", "-o", "{out}/o.onnx", "--batch", "1000000000"], "batch sizes must be integers from 1"),
    (["train", "cgan", "--data", "fake:100000000000", "--out", "{out}/run"], "N must be from 1 to 1,000,000,000"),
    (["train", "cgan", "--data", "fake:100000000", "--out", "{out}/run"], "would need"),
    (["train", "cgan", "--size", "100000", "--out", "{out}/run"], "size must be an integer from 1 to 16,384"),
    (["train", "cgan", "--minutes", "inf", "--out", "{out}/run"], "minutes must be a finite number, got inf"),
    (["train", "cgan", "--lr", "nan", "--out", "{out}/run"], "lr must be a finite number, got nan"),
    (["train", "cgan", "--seed", "-1", "--out", "{out}/run"], "seed must be an integer from 0"),
    (["serve", "--max-queue", str(10**30)], "is not in the range 1<=x<=1000000000"),
])
def test_unbounded_work_is_refused_in_one_line(tmp_path, capsys, args, message):
    args = [a.format(model=default_model_path(), out=tmp_path) for a in args]
    status, err = cli(capsys, *args)
    assert status == 2
    assert_one_line(err, message)
    assert err.count("must be") <= 1, err  # one complaint per mistake
    assert os.listdir(tmp_path) == []


def without_genrt_metadata(tmp_path, name) -> str:
    """A copy of the bundled model with no genrt.* metadata at all, as plain torch.onnx.export writes it."""
    model = onnx.load(default_model_path())
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("genrt.")]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / f"{name}.onnx"))
    return str(tmp_path / f"{name}.onnx")


def test_a_foreign_models_classes_come_from_its_label_table(tmp_path, capsys):
    """Plain torch.onnx.export of a cGAN: no metadata, but its label indexes a 10-row table, so label 99 is refused
    before anything runs."""
    foreign = without_genrt_metadata(tmp_path, "foreign")
    g = Generator(foreign, device="cpu")
    assert g.contract.num_classes == 10
    assert "10 classes, the rows of the table that label input 'label' indexes" in g.contract.assumptions
    np.testing.assert_array_equal(g.sample(3, seed=0), Generator(default_model_path(), device="cpu").sample(3, seed=0))
    with pytest.raises(InputError, match="label 99 is out of range: this model has classes 0..9"):
        g.sample(2, seed=0, labels=99)
    status, err = cli(capsys, "sample", foreign, "--device", "cpu", "--label", "99", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, "label 99 is out of range")
    status, err = cli(capsys, "bench", foreign, "--device", "cpu", "--iters", "2", "--json", tmp_path / "b.json")
    assert status == 0, err  # bench draws the default labels 0..9, inside the table
    assert sorted(os.listdir(tmp_path)) == ["b.json", "foreign.onnx"]


def foreign_copy(tmp_path, name: str, edit) -> str:
    """The bundled model without genrt metadata (as plain torch.onnx.export writes it), changed by `edit(model)`."""
    model = onnx.load(without_genrt_metadata(tmp_path, name))
    edit(model)
    (tmp_path / f"{name}.onnx").write_bytes(model.SerializeToString())  # onnx.save would write external data
    return str(tmp_path / f"{name}.onnx")


@pytest.mark.parametrize("case", ["batch of 2^31", "NUL in a location"])
def test_absurd_graphs_are_refused_before_anything_is_allocated(tmp_path, capsys, case):
    """Sizes past genrt.limits, stated by the graph, and a location onnx's own path code cannot take: one line."""
    def damage(model):
        if case == "batch of 2^31":
            for value in [*model.graph.input, *model.graph.output]:
                value.type.tensor_type.shape.dim[0].dim_value = 1 << 31
        else:
            tensor = model.graph.initializer[0]
            tensor.data_location = onnx.TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value="w\0.bin")

    path = foreign_copy(tmp_path, "absurd", damage)
    message = {"batch of 2^31": "the batch size its graph fixes is 2,147,483,648, past genrt's limit of 65,536",
               "NUL in a location": "refers to external data 'w\\x00.bin', which holds a NUL byte"}[case]
    for command in (["info", path, "--device", "cpu"], ["sample", path, "--device", "cpu", "-o", tmp_path / "o.png"],
                    ["optimize", path, "-o", tmp_path / "o.onnx", "--batch", "1"]):
        status, err = cli(capsys, *command)
        assert status == 2
        assert_one_line(err, message)
    assert sorted(os.listdir(tmp_path)) == ["absurd.onnx"]


def test_a_model_with_a_fixed_batch_runs_in_batches_of_that_size(tmp_path, capsys):
    """Exported with batch 1 fixed in the graph: every run gets exactly one image, and n of them come out the same
    as from the dynamic-batch file."""
    def fix_batch(model):
        for value in [*model.graph.input, *model.graph.output]:
            value.type.tensor_type.shape.dim[0].dim_value = 1

    fixed = foreign_copy(tmp_path, "fixed", fix_batch)
    g = Generator(fixed, device="cpu")
    assert g.contract.fixed_batch == 1 and any("batches of exactly 1" in a for a in g.contract.assumptions)
    expected = Generator(default_model_path(), device="cpu").sample(5, seed=2, labels=[0, 1, 2, 3, 4])
    np.testing.assert_array_equal(g.sample(5, seed=2, labels=[0, 1, 2, 3, 4], batch_size=4), expected)
    status, err = cli(capsys, "sample", fixed, "--device", "cpu", "-n", 5, "--seed", 2, "-o", tmp_path / "f.npy")
    assert status == 0, err
    status, err = cli(capsys, "bench", fixed, "--device", "cpu", "--batch", "8", "--iters", 2)
    assert status == 2
    assert_one_line(err, "runs batches of exactly 1 (its graph fixes the batch dimension); benchmark it with --batch")
    assert sorted(os.listdir(tmp_path)) == ["f.npy", "fixed.onnx"]


def test_a_model_with_several_image_outputs_uses_the_one_named_image_or_says_which(tmp_path):
    def second_output(model):
        model.graph.node.append(onnx.helper.make_node("Neg", ["image"], ["negated"]))
        model.graph.output.append(onnx.helper.make_tensor_value_info("negated", onnx.TensorProto.FLOAT,
                                                                     ["N", 1, 28, 28]))

    def renamed(model):
        second_output(model)
        for node in model.graph.node:
            node.output[:] = ["picture" if o == "image" else o for o in node.output]
            node.input[:] = ["picture" if i == "image" else i for i in node.input]
        model.graph.output[0].name = "picture"

    c = Generator(foreign_copy(tmp_path, "two", second_output), device="cpu").contract
    assert c.image_name == "image" and not any("4-D float outputs" in a for a in c.assumptions)
    c = Generator(foreign_copy(tmp_path, "renamed", renamed), device="cpu").contract
    assert c.image_name == "picture"
    assert "images from output 'picture', the first of the 4-D float outputs 'picture', 'negated'" in c.assumptions


def test_a_label_outside_a_table_the_graph_computes_is_one_line(tmp_path, capsys):
    """A table behind an Identity is not read at open: the class count is unknown, onnxruntime's Gather fails, and
    the user gets one line naming the labels (and none of onnxruntime's log lines)."""
    def table_behind_identity(model):
        gather = next(n for n in model.graph.node if n.op_type == "Gather" and "label" in n.input)
        model.graph.node.insert(0, onnx.helper.make_node("Identity", [gather.input[0]], ["computed_table"]))
        gather.input[0] = "computed_table"

    foreign = foreign_copy(tmp_path, "foreign", table_behind_identity)
    g = Generator(foreign, device="cpu")
    assert g.contract.conditional and g.contract.num_classes == 0
    assert g.sample(2, seed=0, labels=3).shape == (2, 28, 28, 1)
    with pytest.raises(InputError, match=r"failed on labels \[99\], probably outside its classes"):
        g.sample(2, seed=0, labels=99)
    status, err = cli(capsys, "sample", foreign, "--device", "cpu", "--label", "99", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, "failed on labels [99]")
    assert sorted(os.listdir(tmp_path)) == ["foreign.onnx"]


# ------------------------------------------------------------ damaged and hostile files


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (bytes(2_000_000), "field number 0"),  # zeros: read as empty fields, billions of them in a large file
    (b"\x08\x00" * 1_100_000, "more than 1,000,000 fields in one message"),
])
def test_garbage_files_are_refused_in_bounded_time(tmp_path, capsys, content, message):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(content)
    for command in (["info", path], ["sample", path, "--device", "cpu", "-o", tmp_path / "out.png"]):
        status, err = cli(capsys, *command)
        assert status == 2
        assert_one_line(err, message)
    assert os.listdir(tmp_path) == ["garbage.onnx"]


FUZZ = r"""
import random, sys
from genrt.cli import main
source, out, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
original = open(source, "rb").read()
rng = random.Random(seed)
for case in range(count):
    data = bytearray(original)
    how = case % 5
    if how == 0:  # bit flips
        for _ in range(rng.choice([1, 8, 64])):
            i = rng.randrange(len(data)); data[i] ^= 1 << rng.randrange(8)
    elif how == 1:  # truncation
        data = data[: rng.randrange(len(data))]
    elif how == 2:  # a splice of the file into itself
        a, b, c = sorted(rng.randrange(len(data)) for _ in range(3))
        data = data[:a] + data[b:c] + data[a:]
    elif how == 3:  # the header bytes
        for i in range(min(64, len(data))):
            if rng.random() < 0.3: data[i] = rng.randrange(256)
    else:  # a zeroed range
        a, n = rng.randrange(len(data)), rng.randrange(1, 4096)
        data[a : a + n] = bytes(len(data[a : a + n]))
    path = f"{out}/mutant{case}.onnx"
    open(path, "wb").write(bytes(data))
    status = main(["sample", path, "--device", "cpu", "-n", "2", "-o", f"{out}/mutant{case}.png"])
    print("case", case, how, status, bytes(data) == original, flush=True)
"""


@pytest.mark.parametrize("which", ["genrt", "foreign"])
def test_mutated_models_never_crash_or_trace_back(tmp_path, which):
    """100 damaged copies through genrt sample, in a child process: exit 0 or 2 each, no traceback, no signal."""
    import subprocess
    import sys

    from onnx_models import build_generator

    source = default_model_path() if which == "genrt" else str(tmp_path / "foreign.onnx")
    if which == "foreign":
        build_generator(source, latent_dim=8, image_shape=(1, 8, 8), num_classes=3, metadata=False)
    result = subprocess.run([sys.executable, "-c", FUZZ, source, str(tmp_path), "7", "100"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]  # a negative code is a crash signal
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    cases = [line.split() for line in result.stdout.splitlines() if line.startswith("case ")]
    statuses = [int(c[3]) for c in cases]
    assert len(statuses) == 100 and set(statuses) <= {0, 2}
    if which == "genrt":  # it carries a digest: only an unchanged file may sample
        assert all(c[3] == "2" or c[4] == "True" for c in cases), [c for c in cases if c[3] == "0"]
    else:  # no digest: damage to the weights goes unseen, the rest is refused
        assert statuses.count(2) >= 40


def test_protobuf_level_mutants_never_trace_back_crash_or_hang():
    """300 seeded protobuf-level mutants (dims, dtypes, opsets, attributes, names, metadata, external data) of five
    models through genrt info, sample and optimize (benchmarks/fuzz_models.py): each exits 0 or 2."""
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "fuzz_models.py")
    result = subprocess.run([sys.executable, script, "--count", "60", "--seed", "3", "--kind", "protobuf",
                             "--timeout", "60"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("300 mutants of 5 models") and "0 tracebacks, 0 crashes, 0 hangs" in summary, summary
    refused = [int(line.split()[-1]) for line in result.stdout.splitlines() if "refused (exit 2)" in line]
    assert len(refused) == 3 and all(r > 0 for r in refused)  # the mutants reach the checks


def test_the_digest_is_written_checked_and_reported(tmp_path, capsys):
    """genrt optimize stamps genrt.sha256; info reports it; one flipped bit in the weights is refused at open."""
    from genrt.optimize import optimize_model
    from genrt.runtime.digest import DIGEST_KEY, check_digest

    out = tmp_path / "m.onnx"
    optimize_model(with_metadata(tmp_path, "plain"), out, batch_sizes=(1,), rounds=1, log=lambda m: None)
    assert DIGEST_KEY in {p.key for p in onnx.load(str(out)).metadata_props} and check_digest(str(out)) is True
    assert main(["info", str(out), "--device", "cpu"]) == 0
    assert "digest     the file matches the sha256 genrt wrote into it" in capsys.readouterr().out
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the weights
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="is damaged: its bytes no longer match the digest"):
        Generator(str(damaged), device="cpu")
    status, err = cli(capsys, "sample", damaged, "--device", "cpu", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, "damaged.onnx is damaged")
    assert not (tmp_path / "out.png").exists()


def test_a_defeated_digest_is_refused_by_sample_and_optimize(tmp_path, capsys):
    """One bit flipped in the genrt.sha256 key and one in the weights: the file still says it is genrt's, so it
    is refused as carrying no digest, not sampled as a foreign model; "none" accepts an edit knowingly."""
    data = bytearray(open(default_model_path(), "rb").read())
    key = data.index(b"genrt.sha256")
    data[key + len("genrt.sha25")] ^= 0x01  # genrt.sha256 -> genrt.sha257
    data[len(data) // 2] ^= 0x10  # inside the weights
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(bytes(data))
    for command in (["sample", damaged, "--device", "cpu", "-o", tmp_path / "out.png"],
                    ["optimize", damaged, "-o", tmp_path / "opt.onnx", "--batch", "1"],
                    ["info", damaged, "--device", "cpu"]):
        status, err = cli(capsys, *command)
        assert status == 2
        assert_one_line(err, "damaged.onnx carries genrt metadata", "but no digest (genrt.sha256)",
                        "set its genrt.sha256 metadata to 'none'")
    assert sorted(os.listdir(tmp_path)) == ["damaged.onnx"]
    accepted = with_metadata(tmp_path, "accepted")
    assert Generator(accepted, device="cpu").digest_checked is None


def test_optimize_refuses_a_damaged_input(tmp_path, capsys):
    """genrt optimize reads its input through the runtime's checks: a damaged digested file gets no fresh digest."""
    data = bytearray(open(default_model_path(), "rb").read())
    data[len(data) // 2] ^= 0x10
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(bytes(data))
    status, err = cli(capsys, "optimize", damaged, "-o", tmp_path / "out" / "opt.onnx", "--batch", "1")
    assert status == 2
    assert_one_line(err, "damaged.onnx is damaged: its bytes no longer match the digest")
    assert sorted(os.listdir(tmp_path)) == ["damaged.onnx"]


# ------------------------------------------------------------ report files


@pytest.mark.parametrize("command", [
    ["bench", "--device", "cpu", "--batch", "1", "--iters", "1", "--warmup", "0", "--json"],
    ["eval", "-n", "10", "--json"],
])
def test_report_files_are_not_replaced_without_overwrite(tmp_path, capsys, command):
    """bench --json and eval --json refuse an existing file before any work; --overwrite replaces it."""
    report = tmp_path / "report.json"
    report.write_text("the previous report")
    status, err = cli(capsys, *command, report)
    assert status == 2
    assert_one_line(err, "report.json already exists; pass --overwrite")
    assert report.read_text() == "the previous report"
    status, err = cli(capsys, *command, report, "--overwrite")
    assert status == 0, err
    assert report.read_text().startswith(("{", "["))


def test_concurrent_writers_of_one_output_leave_exactly_one_winner(tmp_path):
    """Four processes sample to the same -o without --overwrite: one succeeds, three exit 2, the file is the winner's."""
    import re
    import subprocess
    import sys

    out = tmp_path / "same.png"
    cmd = [sys.executable, "-m", "genrt.cli", "sample", "--device", "cpu", "-n", "4", "-o", str(out), "--seed"]
    runs = [subprocess.Popen(cmd + [str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for seed in range(4)]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 2, 2, 2], results
    for status, _, err in results:
        if status == 2:
            assert_one_line(err, "same.png already exists; pass --overwrite")
    (winner,) = [int(re.search(r"seed (\d+)", stdout).group(1)) for status, stdout, _ in results if status == 0]
    expected = tmp_path / "expected.png"
    assert main(["sample", "--device", "cpu", "-n", "4", "-o", str(expected), "--seed", str(winner)]) == 0
    assert out.read_bytes() == expected.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["expected.png", "same.png"]  # no temporary files left


FULL_DISK = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from genrt.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_full_disk_leaves_the_previous_files_or_none_of_this_run(tmp_path, capsys):
    """Files larger than a limit cannot be written (RLIMIT_FSIZE, a real EFBIG from the OS): the run fails with one
    line, a new folder is gone, and a folder being overwritten holds exactly its previous files."""
    import subprocess
    import sys

    def sample(out, *extra, limit=None):
        args = ["sample", "--device", "cpu", "-n", 40, "-o", f"{out}/", *extra]
        if limit is None:
            return cli(capsys, *args)
        run = subprocess.run([sys.executable, "-c", FULL_DISK, str(limit), *map(str, args)], capture_output=True,
                             text=True, timeout=300)
        return run.returncode, run.stderr

    def contents(folder):  # every file and folder in `folder`, with the bytes of each file
        return {name: (folder / name).read_bytes() if (folder / name).is_file() else "folder"
                for name in sorted(os.listdir(folder))}

    assert sample(tmp_path / "new")[0] == 0
    limit = sorted(len(data) for data in contents(tmp_path / "new").values())[20]  # half the PNGs are larger
    assert sample(tmp_path / "old", "--truncation", 0.5)[0] == 0
    previous = contents(tmp_path / "old")
    assert previous.keys() == contents(tmp_path / "new").keys() and previous != contents(tmp_path / "new")

    status, err = sample(tmp_path / "fresh", limit=limit)
    assert status == 2
    assert_one_line(err, "cannot write", "File too large; no file of this run was kept")
    assert not (tmp_path / "fresh").exists()
    status, err = sample(tmp_path / "old", "--overwrite", limit=limit)
    assert status == 2
    assert_one_line(err, "File too large")
    assert contents(tmp_path / "old") == previous  # and no staging folder left behind

    # A failure while moving the files into place (a folder where one image goes) undoes the moves before it.
    (tmp_path / "old" / "seed0_0030.png").unlink()
    (tmp_path / "old" / "seed0_0030.png").mkdir()
    previous["seed0_0030.png"] = "folder"
    status, err = sample(tmp_path / "old", "--overwrite")
    assert status == 2
    assert_one_line(err, "cannot write", "seed0_0030.png")
    assert contents(tmp_path / "old") == previous


# ------------------------------------------------------------ memory


RSS = r"""
import resource, sys
from genrt.cli import main
status = main(sys.argv[1:])
print("peak", status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss_mb(*args) -> float:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", RSS, *map(str, args)], capture_output=True, text=True, timeout=600)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("peak ")]
    _, status, peak = line.split()
    assert status == "0", result.stderr
    return float(peak)


def test_sample_streams_npy_and_folders_in_memory_bounded_by_a_batch(tmp_path):
    """100,000 images (78 MB of pixels, 40 MB of latents) to .npy take no more memory than 2,000 do."""
    small = peak_rss_mb("sample", "--device", "cpu", "-n", 2000, "-o", tmp_path / "small.npy")
    large = peak_rss_mb("sample", "--device", "cpu", "-n", 100_000, "-o", tmp_path / "large.npy")
    assert large - small < 20, (small, large)  # the whole array at once was 268 MB peak against 81
    images = np.load(tmp_path / "large.npy", mmap_mode="r")
    assert images.shape == (100_000, 28, 28, 1)
    g = Generator(default_model_path(), device="cpu")
    np.testing.assert_array_equal(images[:70], g.sample(70, seed=0))  # the same stream, the same first images
    small = peak_rss_mb("sample", "--device", "cpu", "--interpolate", 200, "-n", 5, "-o", tmp_path / "walk_small.npy")
    large = peak_rss_mb("sample", "--device", "cpu", "--interpolate", 10_000, "-n", 5, "-o", tmp_path / "walk.npy")
    assert large - small < 20, (small, large)  # interpolation sheets stream too
    assert np.load(tmp_path / "walk.npy", mmap_mode="r").shape == (50_000, 28, 28, 1)
    small = peak_rss_mb("sample", "--device", "cpu", "-n", 500, "-o", f"{tmp_path / 'few'}/")
    large = peak_rss_mb("sample", "--device", "cpu", "-n", 5000, "-o", f"{tmp_path / 'many'}/")
    assert large - small < 10, (small, large)
    assert len(os.listdir(tmp_path / "many")) == 5000


def test_a_grid_too_large_is_refused_before_sampling(tmp_path, capsys):
    status, err = cli(capsys, "sample", "--device", "cpu", "-n", 1_000_000, "-o", tmp_path / "huge.png")
    assert status == 2
    assert_one_line(err, "a grid of 1,000,000 images 28x28 would take 784 MB", "-o out/")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["bench", "--device", "cpu", "--batch", "100000000"], "--batch must be integers from 1 to 65,536"),
    (["eval", "-n", "50000000"], "-n must be from 10 (FID needs a covariance) to 1,000,000"),
])
def test_sizes_past_memory_are_refused_up_front(tmp_path, capsys, args, message):
    status, err = cli(capsys, *args)
    assert status == 2
    assert_one_line(err, message)


def test_latents_that_cannot_fit_are_an_output_error():
    from genrt.errors import OutputError

    g = Generator(default_model_path(), device="cpu")
    with pytest.raises(OutputError, match="do not fit in memory; .* sample_batches"):
        g.sample(50_000_000_000, seed=0)


def test_sigterm_mid_write_leaves_nothing_behind(tmp_path):
    """`kill PID` (SIGTERM, what service managers and timeouts send) while an array is being written: exit 143
    and neither the output nor its temporary file is left."""
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-c", "import sys; from genrt.cli import main; sys.argv[0] = 'genrt'; "
               "sys.exit(main())", "sample", "--device", "cpu", "-n", "10000000", "-o", str(out / "s.npy")]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not os.listdir(out) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert os.listdir(out), "the write never started"
    run.terminate()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    assert err.strip().splitlines()[-1] == "genrt: terminated" and "Traceback" not in err, err
    assert os.listdir(out) == []
