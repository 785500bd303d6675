"""The run record's schema: one definition that the runner validates before writing and every reader
validates after reading. Fields that readers use are typed; blocks that only reports lay out (the probe's
figures, per-class lists, samples) are checked for their type, not their every key.

`SCHEMA_VERSION` goes up when a record's shape changes; readers refuse records of a newer version.
"""

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SCHEMA_VERSION = 1
OPEN = ConfigDict(extra="allow")   # a record may carry more than its readers need


class Spec(BaseModel):
    model_config = OPEN
    run_id: str
    train_key: str
    variant_key: str
    label: str
    order: int
    suite: str
    suite_version: str
    arch: str
    options: dict[str, Any]
    seed: int
    dataset: dict[str, Any]
    train: dict[str, Any]
    eval: dict[str, Any]
    probe: dict[str, Any]


class Environment(BaseModel):
    model_config = OPEN
    segbench: str
    torch: str
    device: str
    device_name: str | None
    threads: int
    machine_id: str
    numerics: dict[str, Any] | None = None   # what decides the numbers (segbench.determinism.numerics)


class Metrics(BaseModel):
    model_config = OPEN
    miou: float | None
    bf1: float | None
    pixel_acc: float | None
    mean_acc: float | None
    fwiou: float | None


class Data(BaseModel):
    model_config = OPEN
    num_classes: int
    class_names: list[str]
    palette: list[list[int]]
    ignore_index: int


class _Record(BaseModel):
    model_config = OPEN
    schema_version: Literal[1]
    run_id: str
    train_key: str
    spec: Spec
    environment: Environment
    finished_at: str
    wall_s: float


class OkRecord(_Record):
    status: Literal["ok"]
    error: None = None
    metrics: Metrics
    per_class: dict[str, list[float | None]]
    data: Data
    train: dict[str, Any]
    model: dict[str, Any]
    eval: dict[str, Any]
    probe: dict[str, Any] | None = None
    samples: dict[str, Any] | None = None


class FailedRecord(_Record):
    status: Literal["failed"]
    error: str
    traceback: str | None = None


RECORD = TypeAdapter(Annotated[Union[OkRecord, FailedRecord], Field(discriminator="status")])


def problem(data: Any) -> str | None:
    """None for a valid record, else its first problem as `field.path: message`."""
    try:
        RECORD.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p not in ("ok", "failed"))
        return f"{where or 'the record'}: {first['msg']}"
    return None
