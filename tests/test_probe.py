"""The probe: FLOPs against hand counts and published figures, timing and memory primitives, the record block."""

import json
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from segbench import models
from segbench.config import ProbeConfig
from segbench.errors import ConfigError
from segbench.suitefile import load_suite
from segbench.crf import CRFParams, crf_available
from segbench.matrix import expand
from segbench.probe import count_flops, cuda_peak_mb, measure, summary, time_ms
from tests.conftest import REPO, TINY_SUITE

CPU = torch.device("cpu")


def conv_flops(cin: int, cout: int, k: int, h: int, w: int | None = None) -> int:
    """The hand formula: 2 FLOPs per multiply-add, Cout * Cin * k^2 of them per output pixel."""
    return 2 * cout * cin * k * k * h * (h if w is None else w)


def scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def fcn8s_flops(width: float, classes: int, size: int) -> int:
    """FCN-8s on a size x size input (a multiple of 32), from the paper's layer shapes."""
    flops, cin, s = 0, 3, size
    for stage in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for c in stage:
            flops += conv_flops(cin, scaled(c, width), 3, s)
            cin = scaled(c, width)
        s //= 2  # 2x2 max pool after each stage
    fc = scaled(4096, width)
    # fc6 is 7x7 (pad 3) on an s x s map: taps further than s - 1 from the centre meet only padding
    flops += conv_flops(cin, fc, min(7, 2 * s - 1), s) + conv_flops(fc, fc, 1, s) + conv_flops(fc, classes, 1, s)
    flops += conv_flops(classes, classes, 4, s)                  # upscore2: a transposed conv costs per input pixel
    flops += conv_flops(scaled(512, width), classes, 1, 2 * s)   # score_pool4
    flops += conv_flops(classes, classes, 4, 2 * s)              # upscore_pool4
    flops += conv_flops(scaled(256, width), classes, 1, 4 * s)   # score_pool3
    flops += 2 * classes * 16 * 16 * (4 * s) ** 2                # fixed bilinear x8: depthwise 16x16, transposed
    return flops


def deeplab_v3_flops(width: float, classes: int, size: int, output_stride: int, blocks=(3, 4, 6, 3)) -> int:
    """DeepLab-v3 on a bottleneck ResNet (He et al. 2016, torchvision's strides) from its layer shapes."""
    s = (size + 1) // 2                                           # conv1 7x7 stride 2
    flops, cin = conv_flops(3, scaled(64, width), 7, s), scaled(64, width)
    s = (s + 1) // 2                                              # 3x3 max pool, stride 2
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
        p = scaled(planes, width)
        dilated = (output_stride == 16 and i == 3) or (output_stride == 8 and i >= 2)
        stride = 1 if i == 0 or dilated else 2
        for b in range(n):
            s_out = (s + stride - 1) // stride if b == 0 else s
            flops += conv_flops(cin, p, 1, s) + conv_flops(p, p, 3, s_out) + conv_flops(p, 4 * p, 1, s_out)
            if b == 0:
                flops += conv_flops(cin, 4 * p, 1, s_out)          # projection shortcut
            cin, s = 4 * p, s_out
    ch = scaled(256, width)
    rates = (6, 12, 18) if output_stride == 16 else (12, 24, 36)
    # a 3x3 tap at offset `rate` reaches the map only if rate <= s - 1; else only the centre tap is live
    flops += conv_flops(cin, ch, 1, s) + sum(conv_flops(cin, ch, 3 if r <= s - 1 else 1, s) for r in rates)
    flops += conv_flops(cin, ch, 1, 1)                            # image pooling: 1x1 conv on the pooled map
    flops += conv_flops(5 * ch, ch, 1, s) + conv_flops(ch, ch, 3, s) + conv_flops(ch, classes, 1, s)
    return flops


def meta_input(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device="meta")


def test_conv_flops_are_the_hand_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_flops(conv, torch.zeros(2, 3, 16, 20)) == 2 * conv_flops(3, 8, 3, 16, 20)
    strided = nn.Conv2d(4, 6, 5, stride=2)  # (16 - 5) // 2 + 1 = 6 rows, (20 - 5) // 2 + 1 = 8 columns
    assert count_flops(strided, torch.zeros(1, 4, 16, 20)) == conv_flops(4, 6, 5, 6, 8)


@pytest.mark.parametrize("size", [64, 128])
def test_fcn8s_flops_match_a_count_from_layer_shapes(size):
    model = models.build_on_meta("fcn", 5, skip=8, width=0.125)
    assert count_flops(model, meta_input(1, 3, size, size)) == fcn8s_flops(0.125, 5, size)


@pytest.mark.parametrize("size, output_stride", [(64, 16), (128, 16), (96, 8)])
def test_deeplab_v3_flops_match_a_count_from_layer_shapes(size, output_stride):
    model = models.build_on_meta("deeplab", 5, version="v3", backbone="resnet50", output_stride=output_stride,
                                 width=0.25)
    assert count_flops(model, meta_input(1, 3, size, size)) == deeplab_v3_flops(0.25, 5, size, output_stride)


def test_deeplab_v3_resnet101_matches_torchvisions_published_gmacs():
    """torchvision's model table: deeplabv3_resnet101 (with its auxiliary FCN head) 258.74 GMACs at 520x520.
    Without the aux head torchvision's network is ours at output stride 8."""
    from torchvision.models.segmentation import deeplabv3_resnet101

    x = meta_input(1, 3, 520, 520)
    with torch.device("meta"):
        with_aux = deeplabv3_resnet101(weights=None, weights_backbone=None, aux_loss=True).eval()
    assert count_flops(with_aux, x) / 2e9 == pytest.approx(258.74, abs=0.005)
    aux = 2 * (1024 * 256 * 9 + 256 * 21) * 65 * 65  # FCNHead on layer3 (65x65): 3x3 1024->256, 1x1 256->21
    ours = models.build_on_meta("deeplab", 21, version="v3", backbone="resnet101", output_stride=8)
    assert count_flops(ours, x) == count_flops(with_aux, x) - aux


def test_summary_statistics_by_hand():
    stats = summary([4.0, 1.0, 10.0, 3.0, 2.0], warmup=2)
    # sorted 1 2 3 4 10: p90 at rank 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4); sample variance (9+4+1+0+36)/4
    assert stats == pytest.approx({"median": 3.0, "p90": 7.6, "mean": 4.0, "std": 12.5 ** 0.5, "min": 1.0,
                                   "repeats": 5, "warmup": 2})


def test_cpu_timer_measures_each_call():
    times = time_ms(lambda: time.sleep(0.01), 3, CPU)
    assert len(times) == 3 and all(t >= 10.0 for t in times)


RSS_CHECK = """
import time, torch
from segbench.probe import peak_rss_growth_mb
def allocate_64mb():
    block = torch.ones(16 * 2**20)  # 64 MiB of float32, every page written
    time.sleep(0.005)               # long enough for the 0.5 ms sampler
    del block
print(peak_rss_growth_mb(allocate_64mb), peak_rss_growth_mb(lambda: None))
"""


def test_peak_rss_growth_sees_a_known_allocation():
    # in a fresh process: the RSS is the whole process's, and a test session's other threads and
    # heap (earlier tests) would add their own growth to the window
    out = subprocess.run([sys.executable, "-c", RSS_CHECK], capture_output=True, text=True, timeout=120,
                         cwd=REPO, check=True).stdout.split()
    growth, idle = float(out[0]), float(out[1])
    assert 60 <= growth <= 72
    assert idle < 8


def tiny_probe(**overrides) -> ProbeConfig:
    settings = dict(image_size=32, warmup=1, repeats=3, throughput_batch=2, throughput_repeats=1, crf_repeats=1,
                    threads=1)
    return ProbeConfig(**settings | overrides)


def tiny_fcn() -> nn.Module:
    torch.manual_seed(0)
    return models.build("fcn", 5, skip=8, width=0.0625, batch_norm=True)


def test_measure_leaves_the_model_and_process_as_they_were():
    model = tiny_fcn().train()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    with torch.no_grad():
        out_before = model.eval()(x)
    model.train()
    measure(model, tiny_probe(channels_last=True, threads=threads + 1), 3, CPU)
    assert model.training and torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None and p.is_contiguous() for p in model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), out_before, rtol=0, atol=0)


def test_probe_block_follows_the_record_contract():
    cfg = tiny_probe(batch=2)
    block = measure(tiny_fcn(), cfg, 3, CPU)
    assert json.loads(json.dumps(block)) == block
    assert block["config"] == cfg.model_dump(mode="json") and block["input_shape"] == [2, 3, 32, 32]
    assert set(block["method"]) >= {"latency", "memory", "flops"}
    latency = block["latency_ms"]
    assert latency["repeats"] == 3 and latency["warmup"] == 1 and latency["min"] <= latency["median"] <= latency["p90"]
    assert block["flops"] == count_flops(models.build_on_meta("fcn", 5, skip=8, width=0.0625, batch_norm=True),
                                         meta_input(2, 3, 32, 32))
    assert block["gflops"] == block["flops"] / 1e9 and block["gmacs"] == block["flops"] / 2e9
    assert block["postprocess_ms"]["crf"] is None
    assert block["end_to_end_ms"]["postprocess"] == "argmax"
    assert block["end_to_end_ms"]["median"] == pytest.approx(latency["median"]
                                                             + 2 * block["postprocess_ms"]["argmax"]["median"])
    assert block["throughput"]["batch"] == 2 and block["throughput"]["images_per_s"] > 0
    memory = block["memory"]
    assert memory["reserved_mb"] is None and memory["train_step_input_shape"] == [2, 3, 32, 32]
    assert 0 <= memory["inference_peak_mb"] <= memory["train_step_peak_mb"]
    assert block["options"] == {"channels_last": False, "amp": "none", "cudnn_benchmark": True, "compile": False,
                                "threads": 1}


@pytest.mark.skipif(not crf_available(), reason="needs pydensecrf")
def test_crf_time_is_added_to_end_to_end_latency():
    block = measure(tiny_fcn(), tiny_probe(), 3, CPU, crf_params=CRFParams())
    crf, e2e = block["postprocess_ms"]["crf"], block["end_to_end_ms"]
    assert crf["repeats"] == 1 and e2e["postprocess"] == "crf"
    assert e2e["median"] == pytest.approx(block["latency_ms"]["median"] + crf["median"])


def test_probe_section_defaults_validation_and_run_identity(write_suite):
    suite = load_suite(write_suite(TINY_SUITE))
    assert suite.probe.image_size == (32, 32)  # the data set's size by default
    with pytest.raises(ConfigError, match=r"probe.repeat: unknown field 'repeat'; allowed: enabled, batch"):
        load_suite(write_suite(TINY_SUITE + "probe: {repeat: 3}\n", "bad.yaml"))
    with pytest.raises(ConfigError, match=r"probe.amp: Input should be 'none', 'fp16' or 'bf16'"):
        load_suite(write_suite(TINY_SUITE + "probe: {amp: fp8}\n", "bad2.yaml"))
    with pytest.raises(ConfigError, match=r"compile: true needs warmup >= 1"):
        load_suite(write_suite(TINY_SUITE + "probe: {compile: true, warmup: 0}\n", "bad3.yaml"))
    changed = expand(load_suite(write_suite(TINY_SUITE + "probe: {repeats: 7}\n", "changed.yaml")))
    for old, new in zip(expand(suite), changed):
        assert new.probe.repeats == 7
        assert new.train_key == old.train_key and new.run_id != old.run_id


def test_each_run_record_carries_the_probe_block(tmp_path, write_suite):
    from segbench import records
    from segbench.progress import Progress
    from segbench.runner import run_suite

    text = TINY_SUITE.replace("skip: [32, 8]", "skip: 32") + (
        "probe: {warmup: 1, repeats: 2, throughput_batch: 2, throughput_repeats: 1, threads: 1}\n")
    suite = load_suite(write_suite(text))
    summary_ = run_suite(expand(suite), tmp_path, Progress())
    assert summary_.failed == []
    [record] = records.load_records(tmp_path)
    assert record["probe"]["config"] == record["spec"]["probe"] and record["probe"]["input_shape"] == [1, 3, 32, 32]
    off = load_suite(write_suite(text.replace("probe: {", "probe: {enabled: false, "), "off.yaml"))
    [spec] = expand(off)
    assert run_suite([spec], tmp_path, Progress()).succeeded == [spec.run_id]  # reuses the checkpoint
    record = json.loads(records.record_path(tmp_path, spec.run_id).read_text())
    assert record["train"]["checkpoint_reused"] and "probe" not in record


@pytest.mark.gpu
def test_cuda_timer_waits_for_the_gpu():
    device = torch.device("cuda")
    cycles = 50_000_000  # torch.cuda._sleep spins the GPU; the launch itself returns at once
    torch.cuda._sleep(cycles)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    torch.cuda._sleep(cycles)
    torch.cuda.synchronize()
    wall_ms = (time.perf_counter() - t0) * 1e3
    [timed] = time_ms(lambda: torch.cuda._sleep(cycles), 1, device)
    assert timed == pytest.approx(wall_ms, rel=0.3)


@pytest.mark.gpu
def test_cuda_peak_memory_is_reset_between_measurements():
    device = torch.device("cuda")
    big, _ = cuda_peak_mb(lambda: torch.ones(64 * 2**20 // 4, device=device), device)
    small, _ = cuda_peak_mb(lambda: torch.ones(2**20 // 4, device=device), device)
    assert big >= 64 and small < 64 - 1  # the second peak is not the first one's


@pytest.mark.gpu
def test_measure_on_cuda():
    device = torch.device("cuda")
    model = tiny_fcn().to(device)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    block = measure(model, tiny_probe(amp="fp16"), 3, device)
    assert block["memory"]["reserved_mb"] >= block["memory"]["inference_peak_mb"] > 0
    assert block["memory"]["train_step_peak_mb"] > block["memory"]["inference_peak_mb"]
    assert "CUDA events" in block["method"]["latency"]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
