"""Nothing lost to a kill: a training stopped (SIGTERM, Ctrl-C) or killed after a periodic save resumes to the
weights of an uninterrupted one; an unreadable saved state starts afresh; `segbench run` under SIGTERM exits
143 with its records intact and the same command finishes the job."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from segbench import data, models
from segbench.interrupt import STOP, Interrupted
from segbench.train import fit
from tests.conftest import TINY_SUITE
from tests.test_train import DATASET, train_cfg

# 16 samples in batches of 4: 4 steps an epoch; 4 steps of object crops first; dropout draws from torch's RNG
CFG = train_cfg(iterations=12, object_crops=4, deterministic=False, amp=False)


def build():
    torch.manual_seed(0)
    return models.build("fcn", 7, skip=8, width=0.0625, batch_norm=True, dropout=0.5)


def train(state_path=None, on_step=None, cfg=CFG, warnings=None):
    model = build()
    info = fit(model, data.build(DATASET, "train"), cfg, seed=0, device=torch.device("cpu"), on_step=on_step,
               state_path=state_path, on_warning=None if warnings is None else warnings.append)
    return model, info


@pytest.fixture(scope="module")
def uninterrupted():
    return train()


@pytest.fixture(autouse=True)
def no_stop_request():
    yield
    STOP.requested = None


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def stop_at(step):
    def on_step(done, total):
        if done == step:
            STOP.requested = signal.SIGTERM   # what the handler does when the signal arrives mid-step
    return on_step


@pytest.mark.parametrize("stop", [2, 4, 6, 9])   # in the crops stage, at its end, mid-epoch, in the third epoch
def test_a_stopped_training_resumes_to_the_uninterrupted_weights(tmp_path, uninterrupted, stop):
    state = tmp_path / "state.pt"
    with pytest.raises(Interrupted) as info:
        train(state, stop_at(stop))
    assert info.value.saved == f"saved at step {stop} of 12" and info.value.exit_code == 143 and state.is_file()
    STOP.requested = None
    model, resumed = train(state)
    assert same_weights(model, uninterrupted[0]) and resumed["loss_curve"] == uninterrupted[1]["loss_curve"]
    assert resumed["resumed_at_step"] == stop and state.exists()   # the runner removes it once the model is saved


def test_a_killed_training_resumes_from_its_last_periodic_save(tmp_path, uninterrupted):
    state = tmp_path / "state.pt"

    def killed(step, total):
        if step == 8:
            raise RuntimeError("killed")   # the process dies: no chance to save
    cfg = CFG.model_copy(update={"checkpoint_every": 3})
    with pytest.raises(RuntimeError):
        train(state, killed, cfg)
    model, resumed = train(state, cfg=cfg)
    assert resumed["resumed_at_step"] == 6 and same_weights(model, uninterrupted[0])


def test_an_unreadable_state_is_reported_and_training_starts_afresh(tmp_path, uninterrupted):
    state = tmp_path / "state.pt"
    with pytest.raises(Interrupted):
        train(state, stop_at(5))
    STOP.requested = None
    state.write_bytes(state.read_bytes()[:2000])   # truncated by a kill mid-write of another tool, or a full disk
    warnings = []
    model, info = train(state, warnings=warnings)
    assert len(warnings) == 1 and "is not a readable training state" in warnings[0] and "from the start" in warnings[0]
    assert info["resumed_at_step"] is None and same_weights(model, uninterrupted[0])


def records(folder):
    return {r["run_id"]: (r["metrics"], r["train"]["loss_curve"])
            for r in (json.loads(p.read_text()) for p in (folder / "results" / "tiny" / "runs").glob("*.json"))}


def test_sigterm_stops_segbench_run_resumably(tmp_path, write_suite):
    suite = write_suite(TINY_SUITE.replace("iterations: 2", "iterations: 400") + "reproducible: true\n")
    command = [sys.executable, "-m", "segbench", "run", str(suite)]
    (tmp_path / "straight").mkdir()
    (tmp_path / "killed").mkdir()
    assert subprocess.run(command, cwd=tmp_path / "straight", capture_output=True, timeout=600).returncode == 0
    proc = subprocess.Popen(command, cwd=tmp_path / "killed", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    for line in proc.stderr:   # plain progress lines: stop once the first training is a quarter through
        if "step 100/400" in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert "interrupted (SIGTERM)" in rest and "the training in progress was saved at step" in rest
    assert list((tmp_path / "killed" / "results" / "tiny" / "checkpoints").glob("*.state.pt"))
    done = subprocess.run(command, cwd=tmp_path / "killed", capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert records(tmp_path / "killed") == records(tmp_path / "straight")
    assert not list((tmp_path / "killed" / "results" / "tiny" / "checkpoints").glob("*.state.pt"))


class Planted:
    """What a hostile checkpoint may hold: unpickling it would run code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_state_that_would_run_code_is_refused_unrun(tmp_path, uninterrupted):
    state, marker = tmp_path / "state.pt", tmp_path / "ran"
    torch.save({"version": 1, "step": 3, "model": Planted(marker)}, state)
    warnings = []
    model, info = train(state, warnings=warnings)   # torch.load(weights_only=True) refuses the object
    assert not marker.exists() and "is not a readable training state (UnpicklingError" in warnings[0]
    assert same_weights(model, uninterrupted[0])


def test_a_request_during_the_last_step_leaves_the_training_complete(tmp_path, uninterrupted):
    model, info = train(tmp_path / "state.pt", stop_at(12))   # nothing left to save: the runner stops after it
    assert STOP.requested == signal.SIGTERM and same_weights(model, uninterrupted[0])
