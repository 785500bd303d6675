"""The suite schema: strict pydantic sections (unknown keys refused); segbench.schema_errors says how an error reads.

A suite file is read by segbench.suitefile; its model entries are checked by segbench.entries."""

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator, \
    model_validator

from .crf.params import CRFParams
from .identity import DATASET_WHEN_SET, SETTINGS_WHEN_SET
from .dataconfig import DatasetConfig, ImageSize, ShapesConfig
from .metric_info import CHECKED_BY_DEFAULT, HIGHER_IS_BETTER, SPEED_HIGHER_IS_BETTER
from .models import MODELS

STRICT = ConfigDict(extra="forbid", frozen=True)   # a section, once validated, is what every run carries
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class TrainConfig(BaseModel):
    """Optimisation; the learning rate follows the poly schedule lr * (1 - it/max_it) ** poly_power, after
    `lr_warmup` steps in which it rises linearly."""

    model_config = STRICT
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (AdamW: beta1)")
    weight_decay: float = Field(5e-4, ge=0, le=1)
    batch_size: PositiveInt = 8
    iterations: PositiveInt | None = Field(None, description="training steps; give this or epochs")
    epochs: PositiveInt | None = Field(None, description="passes over the training split")
    poly_power: float = Field(0.9, ge=0, le=10)
    lr_warmup: NonNegativeInt = Field(0, description="first steps, in which the learning rate rises linearly "
                                                      "from lr / lr_warmup to the poly schedule's")
    amp: bool = Field(True, description="mixed precision (CUDA only)")
    deterministic: bool = Field(False, description="torch deterministic algorithms")
    num_workers: NonNegativeInt = Field(0, description="DataLoader workers; results do not depend on it")
    object_crops: NonNegativeInt = Field(
        0, description="first steps on crops centred on one object (DeconvNet's first training stage)")
    accumulate: PositiveInt = Field(1, description="micro-batches per step, their gradients added up: the step's "
                                                   "batch is still batch_size (split among them and the ranks)")
    sync_bn: bool = Field(False, description="synchronised batch norm across the processes of a torchrun (CUDA)")
    checkpoint_every: NonNegativeInt = Field(
        0, description="save the training's state every N steps (0: only when stopped), to resume after a kill")

    @model_validator(mode="after")
    def _one_length(self) -> "TrainConfig":
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError("give exactly one of 'iterations' or 'epochs'")
        if self.object_crops and self.iterations is None:
            raise ValueError(f"object_crops ({self.object_crops}) counts steps: give 'iterations', not 'epochs'")
        if self.batch_size % self.accumulate:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of accumulate ({self.accumulate})")
        if self.iterations is not None and self.lr_warmup >= self.iterations:
            raise ValueError(f"lr_warmup ({self.lr_warmup}) must be smaller than iterations ({self.iterations})")
        if self.object_crops and self.object_crops >= self.iterations:
            raise ValueError(f"object_crops ({self.object_crops}) must be smaller than iterations "
                             f"({self.iterations}), so that training ends on whole images")
        return self


class EvalConfig(BaseModel):
    """Evaluation on the validation split."""

    model_config = STRICT
    batch_size: PositiveInt = 16
    boundary_tolerance: float = Field(0.0075, gt=0, lt=1,
                                      description="boundary F1 tolerance, a fraction of the image diagonal")
    crf: CRFParams = CRFParams()
    tta_scales: tuple[Annotated[float, Field(gt=0, le=4)], ...] = Field(
        (0.5, 0.75, 1.0, 1.25, 1.5, 1.75), min_length=1,
        description="input scales of test-time augmentation (runs with tta: true); DeepLab's by default")
    tta_flip: bool = Field(True, description="test-time augmentation also averages the horizontal flips")


# Fields added to a section after its first release: part of a run's identity only when they differ from their
# default, so that adding them keeps the run ids (and the resume) of existing results folders.
IDENTITY_WHEN_SET: dict[type[BaseModel], tuple[str, ...]] = {EvalConfig: tuple(SETTINGS_WHEN_SET["eval"]),
                                                              TrainConfig: tuple(SETTINGS_WHEN_SET["train"]),
                                                              ShapesConfig: tuple(DATASET_WHEN_SET["shapes"])}
# Fields that never change a run's results (how often state is saved): never part of its identity.
OUTSIDE_IDENTITY: dict[type[BaseModel], tuple[str, ...]] = {TrainConfig: ("checkpoint_every",)}


def identity(section: BaseModel) -> dict[str, Any]:
    """A section's JSON dump as run ids hash it and records store it (see IDENTITY_WHEN_SET)."""
    dump = section.model_dump(mode="json")
    fields = type(section).model_fields
    for name in IDENTITY_WHEN_SET.get(type(section), ()):
        if getattr(section, name) == fields[name].default:
            del dump[name]
    for name in OUTSIDE_IDENTITY.get(type(section), ()):
        del dump[name]
    return dump


class ProbeConfig(BaseModel):
    """Speed and memory measurement of each run's model after evaluation (segbench.probe).

    Defaults keep the smoke suite cheap; the warm-up also covers cuDNN autotuning and torch.compile.
    """

    model_config = STRICT
    enabled: bool = Field(True, description="measure latency, throughput, memory and FLOPs for every run")
    batch: PositiveInt = Field(1, description="images per timed forward pass")
    image_size: ImageSize | None = Field(None, description="[height, width] of the input; default: the data set's "
                                                          "probe size")
    warmup: NonNegativeInt = Field(5, description="untimed passes before timing")
    repeats: Annotated[int, Field(ge=1, le=10000)] = Field(30, description="timed forward passes")
    throughput_batch: PositiveInt = Field(8, description="images per pass for the throughput figure")
    throughput_repeats: PositiveInt = Field(3, description="timed passes at throughput_batch")
    crf_repeats: PositiveInt = Field(3, description="timed CRF runs per image (runs with crf: true)")
    threads: PositiveInt | None = Field(None, description="torch CPU threads while probing; default: torch's")
    channels_last: bool = Field(False, description="NHWC memory format for the model and input")
    amp: Literal["none", "fp16", "bf16"] = Field("none", description="autocast dtype for inference")
    cudnn_benchmark: bool = Field(True, description="let cuDNN pick its fastest algorithms (CUDA)")
    compile: bool = Field(False, description="time torch.compile(model) instead of the eager model")

    @model_validator(mode="after")
    def _compile_before_timing(self) -> "ProbeConfig":
        if self.compile and self.warmup == 0:
            raise ValueError("compile: true needs warmup >= 1 (the first pass compiles the model)")
        return self


class Reproducible(BaseModel):
    """What makes a CPU run bit-identical from run to run and across machines of one kind (segbench.determinism):
    a fixed thread count, torch's deterministic algorithms, and the CPU kernels of one instruction-set level."""

    model_config = STRICT
    threads: PositiveInt = Field(2, description="torch CPU threads for training and evaluation")
    cpu_isa: Literal["avx2", "avx512", "native"] = Field(
        "avx2", description="instruction-set level of torch's, oneDNN's and MKL's CPU kernels: avx2 runs the "
                            "same kernels on every x86-64 CPU of the last decade; native (the CPU's best, e.g. "
                            "on ARM) is bit-identical on one machine only")


CheckedMetric = Literal[(*HIGHER_IS_BETTER, *SPEED_HIGHER_IS_BETTER)]


class CheckConfig(BaseModel):
    """How `segbench check` judges this suite's results against a baseline; its flags override these."""

    model_config = STRICT
    metrics: tuple[CheckedMetric, ...] = Field(CHECKED_BY_DEFAULT, min_length=1, description="the figures compared")
    accuracy_tol: float = Field(0.5, ge=0, description="allowed drop of an accuracy metric, points (x100)")
    speed_tol: float = Field(10.0, ge=0, description="allowed change of speed and memory, %")
    sigma: float = Field(2.0, ge=0, description="accuracy may also move by sigma x the pooled std over seeds")
    tolerances: dict[CheckedMetric, Annotated[float, Field(ge=0)]] = Field(
        {}, description="per metric, instead of accuracy_tol or speed_tol: points for accuracy, % for speed")
    strict_machine: bool = Field(False, description="speed measured on another machine fails the check instead "
                                                    "of being not comparable")

    def tolerance(self, metric: str) -> float:
        """The allowed change of `metric` as a fraction: of the metric (accuracy) or of its baseline (speed)."""
        default = self.accuracy_tol if metric in HIGHER_IS_BETTER else self.speed_tol
        return self.tolerances.get(metric, default) / 100


Fraction = Annotated[float, Field(ge=0, le=1)]


class ReferenceMetrics(BaseModel):
    """Published scores as fractions, like the records (62.2% mIoU → 0.622)."""

    model_config = STRICT
    miou: Fraction | None = None
    bf1: Fraction | None = None
    pixel_acc: Fraction | None = None
    mean_acc: Fraction | None = None
    fwiou: Fraction | None = None

    @model_validator(mode="after")
    def _some(self) -> "ReferenceMetrics":
        if all(v is None for v in self.model_dump().values()):
            raise ValueError(f"give at least one of {', '.join(type(self).model_fields)}")
        return self


class Reference(BaseModel):
    """A published result the report shows beside the measured ones (italic, with its data set and split)."""

    model_config = STRICT
    label: str = Field(min_length=1, description="e.g. 'FCN-8s'")
    arch: str | None = Field(None, description="a registered architecture: the row goes with its variants")
    dataset: str = Field(min_length=1, description="the data set the number is on, e.g. 'PASCAL VOC 2012'")
    split: str = Field(min_length=1, description="e.g. 'val' or 'test'")
    metrics: ReferenceMetrics
    source: str = Field(min_length=1, description="citation, e.g. 'Long et al., CVPR 2015, Table 3'")

    @field_validator("arch")
    @classmethod
    def _registered(cls, v: str | None) -> str | None:
        if v is not None and v not in MODELS:
            raise ValueError(f"unknown architecture {v!r}; registered: {', '.join(sorted(MODELS))}")
        return v


class Claim(BaseModel):
    """A comparison the suite tests, judged over seeds in the report's Claims section (segbench.report.claims)."""

    model_config = STRICT
    better: str = Field(min_length=1, description="the variant said to be better, by its label in the report")
    worse: str = Field(min_length=1, description="the variant said to be worse")
    metric: Literal[tuple(HIGHER_IS_BETTER)] = Field("miou", description="an accuracy metric")
    source: str = Field("", description="where the claim comes from, e.g. 'Long et al. 2015, Table 2'")

    @model_validator(mode="after")
    def _two_sides(self) -> "Claim":
        if self.better == self.worse:
            raise ValueError(f"a claim compares two variants; both sides are {self.better!r}")
        return self


class Suite(BaseModel):
    """A benchmark suite: the whole truth for its runs."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64, json_schema_extra={"pattern": f"^{SUITE_NAME.pattern}$"},
                      description="used as the results and reports folder name")
    version: str = "1"
    description: str = ""
    seeds: list[NonNegativeInt] = Field(min_length=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dataset: DatasetConfig
    train: TrainConfig
    eval: EvalConfig = EvalConfig()
    probe: ProbeConfig = ProbeConfig()
    models: list[dict[str, Any]] = Field(
        min_length=1, description="model entries; a list value is an axis of the run matrix")
    reference: list[Reference] = Field([], description="published results shown in the report (not run)")
    check: CheckConfig = CheckConfig()
    claims: list[Claim] = Field([], description="comparisons the report judges over seeds (reproduced or not)")
    reproducible: Reproducible | None = Field(
        None, description="true (or settings): bit-identical records from run to run (segbench.determinism)")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        if not SUITE_NAME.fullmatch(v):
            raise ValueError("a suite name names its results and reports folders: letters, digits, '.', '_' "
                             f"and '-' only, starting with a letter or digit, e.g. voc-2012_quick (got {v!r})")
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    @field_validator("reproducible", mode="before")
    @classmethod
    def _switch(cls, v: Any) -> Any:
        return {} if v is True else None if v is False else v

    @model_validator(mode="after")
    def _probe_at_dataset_size(self) -> "Suite":
        if self.probe.image_size is None:
            self.probe = self.probe.model_copy(update={"image_size": self.dataset.probe_size()})
        return self
