"""Tests for segbench.crf: the dense CRF's effect on a synthetic edge, each parameter's effect,
the process pool against the sequential path, memory layouts, and life without pydensecrf."""

import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from segbench.crf import (
    DEEPLAB_V1_LARGEFOV,
    DEEPLAB_V2_RESNET101,
    PRESETS,
    CRFParams,
    CRFPool,
    CRFPostProcess,
    crf_available,
    crf_image,
)
from tests.conftest import REPO

needs_crf = pytest.mark.skipif(not crf_available(), reason="pydensecrf not installed (pip install pydensecrf2)")

SIZE, EDGE = 64, 32  # 64x64 image, colour edge between columns 31 and 32


def edge_scene(shift: int = 6, width: float = 5.0, seed: int = 0):
    """Left half reddish, right half bluish (+ a little noise); class 1 = right half. The unaries
    ramp smoothly (a logistic of width `width` px) with their 50 % point `shift` px off the edge."""
    rng = np.random.default_rng(seed)
    image = np.empty((SIZE, SIZE, 3), np.int64)
    image[:, :EDGE] = (200, 60, 40)
    image[:, EDGE:] = (40, 80, 200)
    image = np.clip(image + rng.integers(-10, 11, image.shape), 0, 255).astype(np.uint8)
    xx = np.broadcast_to(np.arange(SIZE, dtype=np.float64), (SIZE, SIZE))
    p1 = 1 / (1 + np.exp(-(xx - EDGE - shift + 0.5) / width))  # 0.5 between columns EDGE+shift-1 and EDGE+shift
    probs = np.stack([1 - p1, p1]).astype(np.float32)
    truth = (xx >= EDGE).astype(np.int64)
    return probs, image, truth


def boundary_offset(labels: np.ndarray) -> float:
    """Mean over rows of |first column labelled 1 - the true edge| (SIZE if a row has no 1)."""
    first = np.where(labels.any(1), labels.argmax(1), SIZE)
    return float(np.abs(first - EDGE).mean())


def errors(labels: np.ndarray, truth: np.ndarray) -> int:
    return int((labels != truth).sum())


# ------------------------------------------------------------------------------- the edge

@needs_crf
@pytest.mark.parametrize("preset", ["deeplab-v2-resnet101", "deeplab-v1-largefov"])
@pytest.mark.parametrize("shift", [6, -6])
def test_crf_snaps_a_blurred_boundary_to_the_colour_edge(preset, shift):
    probs, image, truth = edge_scene(shift=shift)
    before = probs.argmax(0)
    after = crf_image(probs, image, PRESETS[preset])
    assert boundary_offset(before) == pytest.approx(abs(shift))  # the unaries are off by |shift| px
    assert errors(before, truth) == abs(shift) * SIZE
    assert boundary_offset(after) <= 1.0
    assert boundary_offset(after) <= boundary_offset(before) - 4
    assert errors(after, truth) <= errors(before, truth) // 4
    assert after.shape == (SIZE, SIZE) and after.dtype == np.int64


# -------------------------------------------------------------- each parameter takes effect

@needs_crf
def test_no_iterations_or_no_pairwise_weight_gives_the_unary_argmax():
    probs, image, truth = edge_scene()
    argmax = probs.argmax(0)
    assert errors(crf_image(probs, image, DEEPLAB_V2_RESNET101), argmax) > 5 * SIZE  # the CRF does act here
    np.testing.assert_array_equal(crf_image(probs, image, CRFParams(iterations=0)), argmax)
    np.testing.assert_array_equal(crf_image(probs, image, CRFParams(pos_w=0, bi_w=0)), argmax)


@needs_crf
def test_more_iterations_move_the_boundary_further():
    probs, image, truth = edge_scene()
    errs = [errors(crf_image(probs, image, CRFParams(iterations=n)), truth) for n in (0, 1, 2, 10)]
    assert errs[0] > errs[1] + SIZE > errs[2] + 2 * SIZE and errs[3] <= errs[2], errs


@needs_crf
@pytest.mark.parametrize("weak, strong", [
    (dict(bi_w=1), dict(bi_w=4)),                 # appearance weight
    (dict(bi_xy_std=2), dict(bi_xy_std=67)),       # appearance kernel's reach in pixels
    (dict(bi_rgb_std=1000), dict(bi_rgb_std=3)),   # colour-blind kernel: no edge to snap to
])
def test_appearance_kernel_parameters_control_edge_snapping(weak, strong):
    probs, image, truth = edge_scene()
    weak_err = errors(crf_image(probs, image, CRFParams(**weak)), truth)
    strong_err = errors(crf_image(probs, image, CRFParams(**strong)), truth)
    assert strong_err <= SIZE // 2
    assert weak_err >= 3 * SIZE, (weak_err, strong_err)


def speckle_scene(blob: int = 2):
    """A flat grey image; class 0 at 0.7 everywhere but for a grid of blob x blob specks at 0.3."""
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    p1 = np.full((SIZE, SIZE), 0.3, np.float32)
    for y in range(4, SIZE - 4, 10):
        for x in range(4, SIZE - 4, 10):
            p1[y:y + blob, x:x + blob] = 0.7
    return np.stack([1 - p1, p1]), image


@needs_crf
@pytest.mark.parametrize("keeps, removes", [
    (dict(pos_w=0), dict(pos_w=3)),                      # smoothness weight
    (dict(pos_xy_std=0.3), dict(pos_xy_std=3)),          # smoothness kernel's reach in pixels
])
def test_smoothness_kernel_parameters_control_speck_removal(keeps, removes):
    probs, image = speckle_scene()
    specks = int((probs.argmax(0) == 1).sum())
    assert specks == 36 * 4
    base = dict(pos_w=3, pos_xy_std=3, bi_w=0)  # the smoothness kernel alone
    assert int((crf_image(probs, image, CRFParams(**base | keeps)) == 1).sum()) == specks
    assert int((crf_image(probs, image, CRFParams(**base | removes)) == 1).sum()) == 0


def test_presets_are_deeplabs_published_values():
    assert DEEPLAB_V2_RESNET101 == CRFParams(iterations=10, pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67,
                                             bi_rgb_std=3)
    assert DEEPLAB_V1_LARGEFOV == CRFParams(iterations=10, pos_w=3, pos_xy_std=3, bi_w=4, bi_xy_std=121,
                                            bi_rgb_std=5)
    assert CRFParams() == DEEPLAB_V2_RESNET101


@pytest.mark.parametrize("bad", [dict(iterations=-1), dict(iterations=2.5), dict(pos_w=-1),
                                 dict(bi_xy_std=0), dict(bi_rgb_std=float("nan"))])
def test_params_are_validated(bad):
    with pytest.raises(ValueError):
        CRFParams(**bad)


# ------------------------------------------------------------------------ memory layout

@needs_crf
def test_non_contiguous_inputs_give_the_contiguous_result():
    probs, image, _ = edge_scene(seed=3)
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    view = chw.transpose(1, 2, 0)  # HWC view of a CHW buffer: not C-contiguous
    assert not view.flags.c_contiguous
    probs_view = np.ascontiguousarray(probs.transpose(1, 2, 0)).transpose(2, 0, 1)
    assert not probs_view.flags.c_contiguous
    expected = crf_image(probs, image)
    np.testing.assert_array_equal(crf_image(probs, view), expected)
    np.testing.assert_array_equal(crf_image(probs_view, np.asfortranarray(image)), expected)


@needs_crf
def test_bad_inputs_are_refused():
    probs, image, _ = edge_scene()
    with pytest.raises(TypeError, match="uint8"):
        crf_image(probs, image.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="HWC"):
        crf_image(probs, np.ascontiguousarray(image.transpose(2, 0, 1)))
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        crf_image(probs[0], image)


# ----------------------------------------------------------------- pool == sequential

def random_batch(n: int = 4, classes: int = 5, h: int = 40, w: int = 56, seed: int = 0):
    """Blurred random logits (blobs, as a network gives) and images coloured by their argmax + noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    logits = gaussian_filter(rng.normal(0, 6, (n, classes, h, w)), sigma=(0, 0, 4, 4)).astype(np.float32)
    palette = rng.integers(0, 256, (classes, 3))
    images = palette[logits.argmax(1)] + rng.normal(0, 12, (n, h, w, 3))
    return logits, np.clip(images, 0, 255).astype(np.uint8)


def softmax(x: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(x), dim=1).numpy()


@pytest.fixture(scope="module")
def pool():
    if not crf_available():
        pytest.skip("pydensecrf not installed")
    with CRFPool(DEEPLAB_V2_RESNET101, workers=2) as p:
        yield p


@needs_crf
def test_pool_gives_the_sequential_labels(pool):
    logits, images = random_batch()
    probs = softmax(logits)
    sequential = np.stack([crf_image(p, im) for p, im in zip(probs, images)])
    assert (sequential != probs.argmax(1)).any()  # the CRF changed something
    pool.reset_stats()
    h1 = pool.submit(probs[:2], images[:2])
    h2 = pool.submit(probs[2:], images[2:])  # two batches in flight at once
    parallel = np.concatenate([pool.result(h1), pool.result(h2)])
    np.testing.assert_array_equal(parallel, sequential)
    assert pool.images == 4 and pool.seconds_per_image > 0 and pool.crf_seconds >= pool.seconds_per_image
    assert 0 < pool.cpu_seconds_per_image <= pool.seconds_per_image * 1.05
    with pytest.raises(RuntimeError, match="already collected"):
        pool.result(h1)
    with CRFPool(workers=0) as inline:
        np.testing.assert_array_equal(inline.map(probs, images), sequential)


@needs_crf
def test_workers_run_single_threaded_without_torch(pool):
    assert pool.start_method == "spawn" and pool.workers == 2
    assert len({w["pid"] for w in pool.worker_info}) == 2  # every worker started and reported
    assert all(not w["torch_imported"] for w in pool.worker_info)  # workers need numpy + pydensecrf only
    if sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
        assert all(w["malloc_keeps_freed_memory"] for w in pool.worker_info)


@needs_crf
def test_worker_errors_reach_the_caller(pool):
    logits, images = random_batch(n=2)
    handle = pool.submit(softmax(logits), images.astype(np.float32))
    with pytest.raises(TypeError, match="uint8"):
        pool.result(handle)
    with pytest.raises(ValueError, match="same N, H, W"):
        pool.submit(softmax(logits), images[:1])


@needs_crf
def test_postprocess_and_pipeline_match_sequential(pool):
    logits, images = random_batch(n=6, seed=1)
    sequential = np.stack([crf_image(p, im) for p, im in zip(softmax(logits), images)])
    logits_t = torch.from_numpy(logits)
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # [N, 3, H, W] as the loader gives
    post = CRFPostProcess(DEEPLAB_V2_RESNET101, pool)
    labels = post(logits_t[:3], images_t[:3])
    assert labels.dtype == torch.int64 and labels.device == logits_t.device
    np.testing.assert_array_equal(labels.numpy(), sequential[:3])
    batches = ((logits_t[i:i + 2], images_t[i:i + 2], i) for i in range(0, 6, 2))
    out = list(post.pipeline(batches, depth=2))
    assert [extra for _, extra in out] == [0, 2, 4]
    np.testing.assert_array_equal(torch.cat([lab for lab, _ in out]).numpy(), sequential)
    post.close()  # the pool is the fixture's: not closed by the post-processor
    assert pool.map(softmax(logits[:1]), images[:1]).shape == (1, 40, 56)


@needs_crf
@pytest.mark.gpu
def test_postprocess_on_cuda_logits(pool):
    logits, images = random_batch(n=2)
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    post = CRFPostProcess(DEEPLAB_V2_RESNET101, pool)
    on_gpu = post(torch.from_numpy(logits).cuda(), images_t)
    assert on_gpu.device.type == "cuda"
    np.testing.assert_array_equal(on_gpu.cpu().numpy(), post(torch.from_numpy(logits), images_t).numpy())


@needs_crf
def test_workers_limit_torch_threads_when_main_imports_torch(tmp_path):
    """A __main__ that imports torch at top level is re-imported in each spawned worker: the
    worker initialiser then holds torch to one thread."""
    script = tmp_path / "main_with_torch.py"
    script.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import torch
        from segbench.crf import CRFPool

        if __name__ == "__main__":
            torch.set_num_threads(2)
            with CRFPool(workers=1) as pool:
                for info in pool.worker_info:
                    print(info["torch_imported"], info["torch_threads"])
        """))
    env = os.environ | {"OMP_NUM_THREADS": "2"}  # torch would start 2 threads in each worker, even on 1 core
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:-1]
    assert lines == ["True 1"], out.stdout


# --------------------------------------------------------------------- without pydensecrf

def test_import_works_without_pydensecrf_and_use_says_how_to_install():
    code = textwrap.dedent("""\
        import sys
        sys.modules["pydensecrf"] = None  # as if not installed
        import numpy as np
        import segbench.crf as crf
        assert not crf.crf_available()
        for call in (lambda: crf.crf_image(np.ones((2, 4, 4), np.float32) / 2, np.zeros((4, 4, 3), np.uint8)),
                     lambda: crf.CRFPool(workers=0)):
            try:
                call()
            except crf.CRFUnavailableError as e:
                assert "pip install pydensecrf2" in str(e), e
                assert isinstance(e, ImportError)
            else:
                raise AssertionError("no error")
        assert "torch" not in sys.modules  # segbench.crf alone does not import torch
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
