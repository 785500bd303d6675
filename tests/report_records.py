"""Run records for report tests, built by hand so that every expected number can be computed by hand."""

import copy
import hashlib

import numpy as np

from segbench.samples import encode_png

CLASSES = ["background", "disk", "ring"]
PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
DATASET = {"name": "shapes", "image_size": [16, 16], "train_samples": 8, "val_samples": 4, "seed": 0,
           "void_border": 0}
TRAIN = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001, "batch_size": 4,
         "iterations": 10, "epochs": None, "poly_power": 0.9, "amp": True, "deterministic": False, "num_workers": 0, "object_crops": 0}
EVAL = {"batch_size": 4, "boundary_tolerance": 0.0075,
        "crf": {"iterations": 10, "pos_w": 3, "pos_xy_std": 1, "bi_w": 4, "bi_xy_std": 67, "bi_rgb_std": 3}}


def environment(machine: str = "aaaa1111", device_name: str = "Test CPU") -> dict:
    return {"machine_id": machine, "device_name": device_name, "device": "cpu", "threads": 2, "cpu": device_name,
            "cpu_count": 2, "segbench": "0.1.0", "git_commit": "0123456789abcdef", "git_dirty": False,
            "torch": "2.14.1", "cuda": None, "cudnn": None, "python": "3.11.7"}


def probe(latency: float, throughput: float = 100.0, memory: float = 50.0, gflops: float = 2.0) -> dict:
    stats = {"median": latency, "p90": latency * 1.1, "mean": latency, "std": 0.1, "min": latency * 0.9,
             "repeats": 30, "warmup": 5}
    return {"config": {}, "input_shape": [1, 3, 16, 16], "latency_ms": stats, "end_to_end_ms": stats,
            "postprocess_ms": {"argmax": stats, "crf": None},
            "throughput": {"batch": 8, "images_per_s": throughput},
            "memory": {"inference_peak_mb": memory, "train_step_peak_mb": None, "reserved_mb": None},
            "flops": gflops * 1e9, "gflops": gflops, "gmacs": gflops / 2,
            "method": {"latency": "median of 30 timed passes after 5 warm-up passes (perf_counter)",
                       "memory": "peak RSS growth", "flops": "FlopCounterMode; GMACs = FLOPs / 2"},
            "options": {"channels_last": False, "amp": "none", "cudnn_benchmark": True, "compile": False,
                        "threads": 2}}


def samples(shift: int) -> dict:
    """Two 16×16 validation samples; the prediction is the ground truth shifted by `shift` pixels."""
    targets = [np.zeros((16, 16), np.uint8) for _ in range(2)]
    targets[0][4:12, 4:12] = 1
    targets[1][2:8, 2:14] = 2
    images = [np.stack([t * 100] * 3, axis=-1).astype(np.uint8) for t in targets]
    return {"indices": [0, 3], "images": [encode_png(i) for i in images], "targets": [encode_png(t) for t in targets],
            "predictions": [encode_png(np.roll(t, shift, axis=1)) for t in targets]}


def make_record(label: str, order: int, seed: int, miou: float | None = 0.5, *, arch: str = "fcn",
                options: dict | None = None, status: str = "ok", suite_version: str = "1", train: dict | None = None,
                machine: str = "aaaa1111", with_probe: float | None = None, params: int = 2_000_000,
                per_class_iou: list | None = None, bf1: float = 0.3, loss: float = 1.0) -> dict:
    """One record; `with_probe` is the median latency in ms (None: a record without a probe block)."""
    options = options or {}
    train = train or TRAIN
    variant_key = f"{arch}-{sorted(options.items())}-{suite_version}-{sorted(train.items())}"
    run_id = f"{arch}-{hashlib.sha256(f'{variant_key}|{seed}'.encode()).hexdigest()[:10]}"
    train_key = f"t-{label.replace(' crf=true', '').replace(' crf=false', '')}-{seed}"
    spec = {"run_id": run_id, "train_key": train_key, "variant_key": variant_key, "label": label, "order": order,
            "suite": "unit", "suite_version": suite_version, "arch": arch, "options": options, "seed": seed,
            "dataset": DATASET, "train": train, "eval": EVAL, "probe": {}, "device": "cpu"}
    record = {"schema_version": 1, "run_id": run_id, "train_key": train_key,
              "status": status, "error": None if status == "ok" else "RuntimeError: loss became nan at step 3",
              "spec": copy.deepcopy(spec), "environment": environment(machine), "finished_at": "2025-01-01T00:00:00+00:00",
              "wall_s": 1.0}
    if status != "ok":
        return record
    record |= {"metrics": {"miou": miou, "bf1": bf1, "pixel_acc": 0.9, "mean_acc": 0.6, "fwiou": 0.8},
               "per_class": {"iou": per_class_iou or [0.9, 0.4, 0.2], "bf1": [None, 0.5, 0.1], "acc": [0.95, 0.5, 0.3]},
               "data": {"num_classes": 3, "class_names": CLASSES, "palette": PALETTE, "ignore_index": 255},
               "model": {"params": {"total": params, "trainable": params}}, "eval": {"images": 4, "wall_s": 0.1},
               "train": {"loss_curve": [[5, loss + 1.0], [10, loss]], "wall_s": 1.0, "images_per_s": 10.0},
               "samples": samples(order)}
    if with_probe is not None:
        record["probe"] = probe(with_probe)
    return record
