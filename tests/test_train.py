"""The training loop: determinism, the poly schedule, divergence detection, the loss."""

import pytest
import torch

from segbench import data, models
from segbench.config import TrainConfig
from segbench.dataconfig import ShapesConfig
from segbench.data.crops import ObjectCrops
from segbench.data.transforms import normalise
from segbench.train import TrainingDiverged, fit, lr_factor, make_optimizer, seed_everything, segmentation_loss, train_loader

DATASET = ShapesConfig(name="shapes", image_size=[32, 32], train_samples=16, val_samples=4, seed=0, void_border=1)
TRAIN = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "batch_size": 4,
         "iterations": 6, "epochs": None, "poly_power": 0.9, "amp": True, "deterministic": True,
         "num_workers": 0, "object_crops": 0}


def train_cfg(**overrides) -> TrainConfig:
    """TRAIN with `overrides`, unvalidated (so that the divergence test can ask for an absurd lr)."""
    return TrainConfig(**TRAIN).model_copy(update=overrides)


def train_once(**overrides):
    seed_everything(0)
    model = models.build("fcn", 7, skip=8, width=0.0625, batch_norm=True)
    info = fit(model, data.build(DATASET, "train"), train_cfg(**overrides), seed=0, device=torch.device("cpu"))
    return model, info


def test_same_seed_same_weights_and_losses():
    (m1, i1), (m2, i2) = train_once(), train_once()
    assert i1["loss_curve"] == i2["loss_curve"]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_loss_curve_and_length():
    _, info = train_once(iterations=None, epochs=2)
    assert info["iterations"] == 8  # 16 samples / batch 4 * 2 epochs
    assert [s for s, _ in info["loss_curve"]] == list(range(1, 9))
    assert info["final_loss"] == info["loss_curve"][-1][1] > 0
    assert info["images_per_s"] > 0


def test_poly_schedule_ends_at_zero():
    model = models.build("fcn", 7, skip=32, width=0.0625)
    seen = []
    fit(model, data.build(DATASET, "train"), train_cfg(optimizer="adamw", iterations=4), seed=0,
        device=torch.device("cpu"), on_step=lambda step, total: seen.append(step))
    assert seen == [1, 2, 3, 4]


def test_lr_warmup_rises_linearly_then_follows_poly():
    cfg = train_cfg(poly_power=1.0, lr_warmup=4)
    # hand-computed: (step + 1) / 4 during the warm-up, times 1 - step / 10
    expected = [0.25 * 1.0, 0.5 * 0.9, 0.75 * 0.8, 1.0 * 0.7, 0.6, 0.5]
    assert [lr_factor(step, 10, cfg) for step in range(6)] == pytest.approx(expected)
    assert lr_factor(3, 10, train_cfg(poly_power=1.0)) == pytest.approx(0.7)


class _FirstStepDone(Exception):
    pass


def _first_step_update(**overrides) -> list[torch.Tensor]:
    """How much one SGD step (no momentum, no weight decay) moves each parameter."""
    seed_everything(0)
    model = models.build("fcn", 7, skip=8, width=0.0625, batch_norm=True)
    before = [p.detach().clone() for p in model.parameters()]

    def stop(step, total):
        raise _FirstStepDone

    with pytest.raises(_FirstStepDone):
        fit(model, data.build(DATASET, "train"), train_cfg(momentum=0.0, weight_decay=0.0, **overrides),
            seed=0, device=torch.device("cpu"), on_step=stop)
    return [p.detach() - b for p, b in zip(model.parameters(), before)]


def test_fit_takes_its_first_step_at_the_warmed_up_rate():
    plain, warmed = _first_step_update(), _first_step_update(lr_warmup=4)
    assert any(d.abs().max() > 0 for d in plain)
    for d_plain, d_warmed in zip(plain, warmed):
        torch.testing.assert_close(d_warmed, d_plain / 4, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_fused_optimizer_steps_as_torch_reference_loop(name):
    """The fused kernel (for speed) keeps the recipe: the same updates as torch's per-parameter loop
    with the suite's settings (AdamW's beta1 is the suite's `momentum`)."""
    cfg = train_cfg(optimizer=name, lr=0.05, momentum=0.8, weight_decay=0.01)
    reference = {"sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.01, foreach=False),
                 "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.8, 0.999), weight_decay=0.01,
                                                      foreach=False)}[name]
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    theirs.load_state_dict(ours.state_dict())
    optimizers = make_optimizer(ours, cfg), reference(theirs.parameters())
    assert optimizers[0].defaults["fused"] is True
    for step in range(4):
        x = torch.randn(8, 5)
        for model, optimizer in zip((ours, theirs), optimizers):
            optimizer.zero_grad()
            (model(x) ** 2).mean().backward()
            optimizer.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b)


def test_divergence_is_detected():
    with pytest.raises(TrainingDiverged, match="loss became"):
        train_once(lr=1e30)


def test_data_order_depends_on_seed_only():
    ds = data.build(DATASET, "train")
    first = [t for _, t in train_loader(ds, 4, 7, 0, torch.device("cpu"))]
    again = [t for _, t in train_loader(ds, 4, 7, 2, torch.device("cpu"))]
    other = [t for _, t in train_loader(ds, 4, 8, 0, torch.device("cpu"))]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_loss_ignores_void_and_survives_an_all_void_batch():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 1] = 10.0
    target = torch.tensor([[[1, 255], [255, 255]]])
    expected = -torch.log_softmax(logits[0, :, 0, 0], 0)[1]
    torch.testing.assert_close(segmentation_loss(logits, target, 255), expected)
    assert segmentation_loss(logits, torch.full((1, 2, 2), 255), 255).item() == 0.0


@pytest.mark.gpu
def test_cuda_training_with_mixed_precision_is_finite_and_seeded():
    runs = []
    for _ in range(2):
        seed_everything(0)
        model = models.build("fcn", 7, skip=8, width=0.0625, batch_norm=True)
        info = fit(model, data.build(DATASET, "train"), train_cfg(deterministic=False, amp=True), seed=0,
                   device=torch.device("cuda"))
        assert next(model.parameters()).is_cuda and info["images_per_s"] > 0
        runs.append([loss for _, loss in info["loss_curve"]])
    assert all(torch.isfinite(torch.tensor(r)).all() for r in runs)
    torch.testing.assert_close(torch.tensor(runs[0]), torch.tensor(runs[1]), rtol=1e-3, atol=1e-3)


def inputs_seen(**overrides) -> list[torch.Tensor]:
    """The input batches `fit` gives a model, in order."""
    seen = []
    model = models.build("fcn", 7, skip=8, width=0.0625, batch_norm=True)
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    fit(model, data.build(DATASET, "train"), train_cfg(**overrides), seed=0, device=torch.device("cpu"))
    return seen


def loader_inputs(dataset, epochs: int = 1) -> list[torch.Tensor]:
    """Successive passes of one train_loader (its sampler goes on to a new order each pass), normalised."""
    cpu = torch.device("cpu")
    loader = train_loader(dataset, 4, 0, 0, cpu)
    return [normalise(x, dataset.mean, dataset.std, cpu) for _ in range(epochs) for x, _ in loader]


def test_batches_run_on_through_epochs_in_the_loaders_order():
    seen = inputs_seen(iterations=10)  # 2.5 epochs of 4 batches
    want = loader_inputs(data.build(DATASET, "train"), epochs=3)
    assert len(seen) == 10 and not torch.equal(want[0], want[4])
    for got, expected in zip(seen, want):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_object_crops_feed_exactly_the_first_steps():
    """With object_crops=k the first k batches are ObjectCrops' (in the data set's sampling order),
    the rest the data set's own: the stage switch is checked on the inputs the model receives."""
    ds = data.build(DATASET, "train")
    seen = inputs_seen(object_crops=2)
    crops, whole = loader_inputs(ObjectCrops(ds, 0)), loader_inputs(ds)
    assert len(seen) == TRAIN["iterations"]
    for got, want in zip(seen, crops[:2] + whole[:4]):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert not torch.equal(crops[0], whole[0])


def test_divergence_stops_at_the_step_it_happens_on_the_cpu():
    # the loss is read back every 4th step (400 // 100), but on the CPU each step is checked
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at step (2|3) of 400"):
        train_once(lr=1e30, iterations=400)
