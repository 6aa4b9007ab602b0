"""Specs of the evaluation job, and the name rules for the names a train spec carries (the
training spec itself is app.ml.training.TrainSpec)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.registry.schemas import AliasName, ModelName
from app.tracking.schemas import Name

ModelRef = Annotated[
    str, StringConstraints(pattern=r"^(models:/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}([@/][A-Za-z0-9_-]{1,64})?$")
]


class EvaluateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelRef = Field(description="name@alias, name/3, or name (the newest READY version).")
    dataset: str = Field(min_length=1, description="name@3 or name@latest.")
    target: str | None = Field(default=None, description="Default: the target the model was trained on.")
    gates: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list, max_length=50)
    baseline: ModelRef | None = None
    sensitive: str | None = Field(default=None, description="A column to report fairness across.")


class TrainNames(BaseModel):
    """The names in a train spec, held to the rules the API holds them to when it is called directly."""

    register_as: ModelName | None = None
    alias: AliasName | None = None
    experiment: Name
