"""Option types shared by the builders: their annotations are the suite schema (config.options_model)."""

from typing import Annotated, Literal

from pydantic import Field

Width = Annotated[float, Field(gt=0, le=4, description="channel multiplier; 1.0 = the paper")]
InChannels = Annotated[int, Field(ge=1, le=64, description="input image channels")]
Dropout = Annotated[float, Field(ge=0, lt=1, description="dropout probability")]
Pretrained = Literal["none", "imagenet"]
MinChannels = Annotated[int, Field(ge=1, le=512, description=(
    "the narrowest layer's channels: a width-scaled count below it is raised to it; 1 = width alone"))]
RateDivisor = Annotated[int, Field(ge=1, le=36, description="divides the head's atrous rates; 1 = the paper")]
