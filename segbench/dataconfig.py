"""The suite's `dataset:` section: one strict model per data set, a union keyed on `name`.

Roots may name environment variables, `root: ${VOC_ROOT}` or `${VOC_ROOT:-data}` (a default after
`:-`). The text is kept as written, so a run's identity does not depend on where the data lies on one
machine; `expand_root` resolves it where the data is read, and an unset variable without a default is
a validation error naming it.
"""

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeInt, PositiveInt, \
    model_validator

STRICT = ConfigDict(extra="forbid", frozen=True)
ENV_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def _square(v: Any) -> Any:
    return (v, v) if isinstance(v, int) and not isinstance(v, bool) else v


Side = Annotated[int, Field(ge=16, le=4096)]
ImageSize = Annotated[tuple[Side, Side], BeforeValidator(_square)]


def expand_root(text: str) -> Path:
    """A root's path with its ${NAME} / ${NAME:-default} variables replaced; ~ is the home folder."""
    def value(match: re.Match) -> str:
        found = os.environ.get(match["name"]) or None   # empty counts as unset, as the shell's :- has it
        if found is None and match["default"] is None:
            raise ValueError(f"environment variable {match['name']} is not set or empty "
                             f"(used as ${{{match['name']}}}); "
                             f"set it to the data's folder, or write the path, or give a default: "
                             f"${{{match['name']}:-data}}")
        return found if found is not None else match["default"]
    return Path(ENV_VARIABLE.sub(value, text)).expanduser()


def _expandable(text: str) -> str:
    expand_root(text)   # raises for an unset variable without a default
    if "$" in ENV_VARIABLE.sub("", text):
        raise ValueError(f"{text!r}: write environment variables as ${{NAME}} or ${{NAME:-default}}")
    return text


Root = Annotated[str, Field(min_length=1), AfterValidator(_expandable)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class ShapesConfig(BaseModel):
    """The built-in procedural `shapes` benchmark (segbench.data.synthetic)."""

    model_config = STRICT
    name: Literal["shapes"]
    image_size: ImageSize = Field((64, 64), description="[height, width], or one number for a square")
    train_samples: PositiveInt = 1000
    val_samples: PositiveInt = 200
    seed: NonNegativeInt = Field(0, description="scene seed; the data set is a pure function of it")
    void_border: Annotated[int, Field(ge=0, le=16)] = Field(
        0, description="pixels along object borders marked 255 (ignored), as PASCAL VOC does")
    scenes: Literal["cluttered", "clear", "scales"] = Field(
        "cluttered", description="composition: cluttered (1-6 objects, cut and covering one another, any "
        "texture), clear (3-6 whole objects side by side on smooth backgrounds) or scales (as clear, 2-5 "
        "objects whose sizes spread 5.3x); see the README, The shapes benchmark")

    def probe_size(self) -> tuple[int, int]:
        return self.image_size


class Augment(BaseModel):
    """Training-time augmentation of real images, as DeepLab and mmsegmentation do it: random scale, then
    padding (image with its mean colour, mask with the ignore index) to the crop, a random crop, a
    horizontal flip. Masks are always resampled by nearest neighbour."""

    model_config = STRICT
    scale: tuple[Annotated[float, Field(gt=0, le=8)], Annotated[float, Field(gt=0, le=8)]] = Field(
        (0.5, 2.0), description="[low, high] of the random scale factor")
    crop: ImageSize = Field((321, 321), description="[height, width] of the training crop (DeepLab v2: 321)")
    flip: bool = Field(True, description="random horizontal flip")

    @model_validator(mode="after")
    def _ordered(self) -> "Augment":
        if self.scale[0] > self.scale[1]:
            raise ValueError(f"scale [{self.scale[0]}, {self.scale[1]}]: give [low, high] with low <= high")
        return self


def _check_md5(url: str | None, md5: str | None, url_field: str, md5_field: str) -> None:
    if md5 and not url:
        raise ValueError(f"{md5_field} goes with {url_field} (torchvision's own URL comes with its md5)")


class _RealData(BaseModel):
    """What every on-disk data set takes."""

    model_config = STRICT
    root: Root = Field("data", description="the data's folder; ${NAME} or ${NAME:-default} reads the environment")
    augment: Augment = Augment()
    probe_side: Side = Field(512, description="side of the square input the probe times (no fixed image size)")

    def probe_size(self) -> tuple[int, int]:
        return self.probe_side, self.probe_side


class VOCConfig(_RealData):
    """PASCAL VOC 2012 segmentation (root holds VOCdevkit/VOC2012), evaluated on its val split."""

    name: Literal["voc2012"]
    train_split: Literal["train", "trainval"] = "train"
    download: bool = Field(False, description="fetch and extract the archive when it is missing")
    url: str | None = Field(None, description="archive URL instead of torchvision's")
    md5: str | None = Field(None, description="its md5, with url")

    @model_validator(mode="after")
    def _md5_with_url(self) -> "VOCConfig":
        _check_md5(self.url, self.md5, "url", "md5")
        return self


class VOCAugConfig(_RealData):
    """The "train_aug" training set: (VOC 2012 train ∪ SBD train ∪ SBD val) − VOC 2012 val, evaluated on
    VOC 2012 val; images in VOC train keep their VOC masks, the others use SBD's."""

    name: Literal["voc2012_aug"]
    sbd_root: Root = Field("data/sbd", description="the SBD folder holding img/, cls/, train.txt, val.txt")
    download: bool = False
    url: str | None = Field(None, description="VOC archive URL instead of torchvision's")
    md5: str | None = None
    sbd_url: str | None = Field(None, description="SBD archive URL instead of torchvision's")
    sbd_md5: str | None = None

    @model_validator(mode="after")
    def _md5_with_url(self) -> "VOCAugConfig":
        _check_md5(self.url, self.md5, "url", "md5")
        _check_md5(self.sbd_url, self.sbd_md5, "sbd_url", "sbd_md5")
        return self


class FolderConfig(_RealData):
    """A user's own data: images/ and masks/ with matching stems, a classes file, split lists or a
    seeded split."""

    name: Literal["folder"]
    root: Root
    images: str = Field("images", description="image folder, relative to root")
    masks: str = Field("masks", description="mask folder (palette or greyscale PNG), relative to root")
    classes: str = Field("classes.yaml", description="class names, optional colours, ignore_index")
    train_list: str | None = Field(None, description="file of training stems, one per line, relative to root")
    val_list: str | None = Field(None, description="file of validation stems")
    val_fraction: Fraction | None = Field(None, description="instead of lists: this share of the stems is val")
    split_seed: NonNegativeInt = Field(0, description="seed of the val_fraction split")

    @model_validator(mode="after")
    def _one_split(self) -> "FolderConfig":
        one_list = (self.train_list is None) != (self.val_list is None)
        lists = self.train_list is not None and self.val_list is not None
        if one_list or lists == (self.val_fraction is not None):
            raise ValueError("give train_list and val_list (files of stems), or val_fraction (a seeded split)")
        return self


DATASET_SECTIONS = {"shapes": ShapesConfig, "voc2012": VOCConfig, "voc2012_aug": VOCAugConfig,
                    "folder": FolderConfig}
DatasetConfig = Annotated[Union[ShapesConfig, VOCConfig, VOCAugConfig, FolderConfig], Field(discriminator="name")]
