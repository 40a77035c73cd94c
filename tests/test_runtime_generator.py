"""genrt.runtime.Generator on real ONNX files: contract, determinism, labels, threads, errors."""

import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import genrt.ext as ext
from genrt.errors import InputError, ModelError
from genrt.runtime import Generator, ProviderFallbackWarning, interpolate_latents
from onnx_models import build_generator, reference_images


def open_cpu(path, **kw):
    return Generator(path, device="cpu", **kw)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "gan1": build_generator(root / "gan1.onnx", latent_dim=8, image_shape=(1, 6, 5)),
        "gan3": build_generator(root / "gan3.onnx", latent_dim=12, image_shape=(3, 4, 7), seed=1),
        "cgan": build_generator(
            root / "cgan.onnx", num_classes=4, image_shape=(3, 5, 5), class_names=["a", "b", "c", "d"], seed=2
        ),
        "foreign": build_generator(root / "foreign.onnx", latent_dim=10, image_shape=(3, 4, 4), metadata=False),
        "foreign_cgan": build_generator(root / "foreign_cgan.onnx", num_classes=3, metadata=False, seed=3),
        "sigmoid": build_generator(root / "sigmoid.onnx", sigmoid=True, metadata=False, seed=4),
    }


def test_contract_from_metadata(models):
    c = open_cpu(models["cgan"]).contract
    assert (c.kind, c.latent_dim, c.num_classes, c.image_shape) == ("cgan", 8, 4, (3, 5, 5))
    assert c.class_names == ("a", "b", "c", "d") and c.output_range == (-1.0, 1.0)
    assert c.assumptions == ()


def test_foreign_model_contract_is_inferred_and_stated(models):
    c = open_cpu(models["foreign"]).contract
    assert (c.kind, c.latent_dim, c.image_shape, c.num_classes) == ("unknown", 10, (3, 4, 4), 0)
    text = " ".join(c.assumptions)
    assert "latent size 10" in text and "output range -1,1" in text and "no genrt metadata" in text
    cc = open_cpu(models["foreign_cgan"]).contract
    assert cc.conditional and cc.num_classes == 3
    assert "3 classes, the rows of the table that label input 'label' indexes" in cc.assumptions


def test_overrides_win(models):
    g = open_cpu(models["sigmoid"], output_range=(0, 1))
    z = g.latents(3, seed=1)
    np.testing.assert_array_equal(g.decode(z), ext.to_uint8(reference_images(models["sigmoid"], z).astype(np.float32), (0, 1)))


@pytest.mark.parametrize("name", ["gan1", "gan3", "foreign"])
def test_images_match_the_graph(name, models):
    g = open_cpu(models[name])
    z = g.latents(5, seed=3)
    raw = g.decode(z, raw=True)
    np.testing.assert_allclose(raw, reference_images(models[name], z), atol=1e-5)
    images = g.sample(5, seed=3)
    c, h, w = g.contract.image_shape
    assert images.shape == (5, h, w, c) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, ext.to_uint8(raw))


def test_same_seed_same_images_whatever_the_batch_size(models):
    g = open_cpu(models["gan3"])
    runs = [g.sample(64, seed=11, batch_size=b) for b in (1, 7, 64)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)
    assert not np.array_equal(runs[0], g.sample(64, seed=12))


def test_latents_follow_the_documented_rule(models):
    from genrt.runtime.latents import latent_rows

    g = open_cpu(models["gan1"])
    expected = latent_rows(5, 0, 4, 8)
    np.testing.assert_array_equal(g.latents(4, seed=5), expected)
    np.testing.assert_array_equal(g.latents(4, seed=5, truncation=0.5), expected * np.float32(0.5))
    np.testing.assert_array_equal(g.latents(2, seed=5, start=2), expected[2:])


def test_start_gives_the_later_images_of_the_seed(models):
    for name in ("gan3", "cgan"):
        g = open_cpu(models[name])
        whole = g.sample(40, seed=3)
        np.testing.assert_array_equal(g.sample(15, seed=3, start=25), whole[25:])
        batches = list(g.sample_batches(23, seed=3, batch_size=6, start=17))
        np.testing.assert_array_equal(np.concatenate(batches), whole[17:])


def test_labels_by_index_name_and_default(models):
    g = open_cpu(models["cgan"])
    z = g.latents(4, seed=0)
    by_index = g.decode(z, labels=[0, 1, 2, 3], raw=True)
    np.testing.assert_allclose(by_index, reference_images(models["cgan"], z, np.arange(4)), atol=1e-5)
    np.testing.assert_array_equal(g.decode(z, labels=["a", "b", "c", "d"], raw=True), by_index)
    np.testing.assert_array_equal(g.decode(z, raw=True), by_index)  # default: classes in turn
    same = g.decode(z, labels=2, raw=True)
    np.testing.assert_allclose(same, reference_images(models["cgan"], z, np.full(4, 2)), atol=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: g.sample(0), "n must be a positive integer, got 0"),
        (lambda g: g.sample(2, labels=4), r"label 4 is out of range: this model has classes 0..3"),
        (lambda g: g.sample(2, labels=-1), "label -1 is out of range"),
        (lambda g: g.sample(2, labels="zebra"), "label 'zebra' is not a class of this model; known classes: a, b, c, d"),
        (lambda g: g.sample(3, labels=[0, 1]), "expected 1 or 3 labels, got 2"),
        (lambda g: g.decode(np.zeros((2, 7), np.float32)), r"z must have shape \(n >= 1, 8\), got \(2, 7\)"),
        (lambda g: g.decode(np.zeros((2, 8))), "z must be a float32 numpy array of shape"),
        (lambda g: g.sample(2, truncation=1.5), r"truncation must be in \(0, 1\]"),
        (lambda g: g.sample(2, seed=-1), r"`seed` must be an integer from 0 to 2\*\*64 - 1, got -1"),
        (lambda g: g.sample(2, seed=1.5), "`seed` must be an integer from 0 .*, got 1.5"),
        (lambda g: g.sample(2, seed=True), "`seed` must be an integer from 0 .*, got True"),
        (lambda g: g.sample(2, seed=2**64), "`seed` must be an integer from 0 .*, got 18446744073709551616"),
        (lambda g: g.sample(2, seed=0, start=-1), "`start` must be a non-negative integer"),
    ],
)
def test_bad_requests_raise_input_error(models, call, message):
    with pytest.raises(InputError, match=message):
        call(open_cpu(models["cgan"]))


def test_an_unknown_model_format_is_refused_with_the_remedy(tmp_path, models):
    import onnx

    model = onnx.load(str(models["gan1"]))
    for entry in model.metadata_props:
        if entry.key == "genrt.format":
            entry.value = "2"
    path = tmp_path / "future.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"is in genrt model format '2'; this genrt .* reads format 1: upgrade genrt"):
        open_cpu(path)


def test_bad_files_raise_model_error(tmp_path, models):
    with pytest.raises(ModelError, match="model file not found"):
        open_cpu(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(models["gan1"].read_bytes()[:100])
    with pytest.raises(ModelError, match="cannot load .*corrupt.onnx as an ONNX model"):
        open_cpu(corrupt)
    from genrt.runtime import environment

    probe = tmp_path / "probe.onnx"
    probe.write_bytes(environment._probe_model_bytes())  # a valid graph with a 2-channel image output
    with pytest.raises(ModelError, match="its output 'y' has 2 channels; genrt makes images of 1, 3 or 4"):
        open_cpu(probe)


def test_device_choice(models):
    with pytest.raises(InputError, match="device must be one of auto, cpu, cuda, tensorrt"):
        Generator(models["gan1"], device="tpu")
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine's wheel has CUDA; the CPU-wheel paths below do not apply")
    with pytest.raises(InputError, match="device='cuda' requested but this onnxruntime build has no CUDA provider"):
        Generator(models["gan1"], device="cuda")
    with pytest.raises(InputError, match="device='tensorrt' requested but this onnxruntime build has no CUDA provider"):
        Generator(models["gan1"], device="tensorrt")
    with pytest.raises(InputError, match="`cuda_graph` needs the CUDA provider"):
        Generator(models["gan1"], device="cpu", cuda_graph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = Generator(models["gan1"], device="auto")  # a CPU wheel: no GPU was expected, so no warning
        Generator(models["gan1"], device="cpu")  # an explicit CPU choice is not a fallback
    assert g.providers == ("CPUExecutionProvider",)


def test_eight_threads_sharing_one_generator_match_serial(models):
    g = open_cpu(models["cgan"], batch_size=5)
    seeds = list(range(8))
    expected = {s: g.sample(13, seed=s, labels=s % 4) for s in seeds}
    got = {}

    def work(seed):
        for _ in range(3):
            got[seed] = g.sample(13, seed=seed, labels=seed % 4)

    threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in seeds:
        np.testing.assert_array_equal(got[s], expected[s])


def test_sampling_never_imports_torch(models):
    code = (
        "import sys, warnings; warnings.simplefilter('ignore')\n"
        "from genrt.runtime import Generator\n"
        f"Generator({str(models['gan3'])!r}).sample(4, seed=0)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_interpolation_paths():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 16), dtype=np.float32)
    for mode in ("slerp", "lerp"):
        path = interpolate_latents(a, b, 9, mode)
        assert path.shape == (9, 16) and path.dtype == np.float32
        np.testing.assert_array_equal(path[0], a)
        np.testing.assert_array_equal(path[-1], b)
    lerp = interpolate_latents(a, b, 5, "lerp")
    np.testing.assert_allclose(lerp[2], (a + b) / 2, rtol=1e-6)
    # Between vectors of one norm, slerp stays on the sphere in equal angular steps,
    # where the straight line sags toward the origin.
    b_same_norm = b * (np.linalg.norm(a) / np.linalg.norm(b))
    slerp = interpolate_latents(a, b_same_norm, 9, "slerp")
    np.testing.assert_allclose(np.linalg.norm(slerp, axis=1), np.linalg.norm(a), rtol=1e-5)
    unit = slerp / np.linalg.norm(slerp, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
    assert np.linalg.norm(interpolate_latents(a, b_same_norm, 9, "lerp")[4]) < 0.9 * np.linalg.norm(a)
    # parallel vectors have no arc: slerp falls back to the straight line
    np.testing.assert_allclose(interpolate_latents(a, 2 * a, 3), interpolate_latents(a, 2 * a, 3, "lerp"), rtol=1e-6)


def test_generator_interpolates_between_seeds_or_vectors(models):
    g = open_cpu(models["cgan"])
    images = g.interpolate(3, 4, steps=6, labels="b")
    assert images.shape == (6, 5, 5, 3)
    np.testing.assert_array_equal(images[0], g.sample(1, seed=3, labels="b")[0])
    np.testing.assert_array_equal(images[-1], g.sample(1, seed=4, labels="b")[0])
    a, b = g.latents(1, seed=3)[0], g.latents(1, seed=4)[0]
    np.testing.assert_array_equal(g.interpolate(a, b, steps=6, labels=1), images)
    with pytest.raises(InputError, match=r"steps must be at least 2"):
        g.interpolate(0, 1, steps=1)
    with pytest.raises(InputError, match="mode must be one of slerp, lerp"):
        g.interpolate(0, 1, mode="cubic")
    with pytest.raises(InputError, match=r"b must be a seed or a latent vector of shape \(8,\), got \(7,\)"):
        g.interpolate(0, np.zeros(7, np.float32))


@pytest.mark.parametrize("options", [{}, {"labels": 3}, {"labels": "7"}, {"truncation": 0.5},
                                     {"labels": [k % 10 for k in range(130)]}])
def test_sample_batches_concatenate_to_sample(options):
    """The streaming form draws the same latents and labels: batches of at most batch_size, the same images."""
    from genrt.runtime import default_model_path

    g = open_cpu(default_model_path())
    batches = list(g.sample_batches(130, seed=4, batch_size=32, **options))
    assert [len(b) for b in batches] == [32, 32, 32, 32, 2]
    np.testing.assert_array_equal(np.concatenate(batches), g.sample(130, seed=4, **options))
    with pytest.raises(InputError, match="truncation must be in"):
        g.sample_batches(4, truncation=2.0)  # checked when called, not at the first batch
