"""The spec of a retrain job."""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.deployments.schemas import DeploymentName, Reason, RolloutPlan

GateText = Annotated[str, StringConstraints(max_length=200)]
HoldoutRef = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RetrainData(StrEnum):
    """What the new version trains on."""

    NEWEST = "newest"
    REFERENCE_PLUS_FEEDBACK = "reference_plus_feedback"


class RetrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: DeploymentName = Field(description="The deployment whose serving version is trained again.")
    data: RetrainData = Field(
        default=RetrainData.NEWEST,
        description="`newest`: the newest version of the dataset the serving version trained on. "
        "`reference_plus_feedback`: a new version of it, the rows the serving version trained on plus the "
        "deployment's logged inputs with feedback since then, the feedback as the target.",
    )
    gates: list[GateText] = Field(
        default_factory=list,
        max_length=50,
        description='Gates such as "f1>=0.8" or "f1>=baseline", judged against the serving version as the '
        "baseline; a new version that fails one is registered but not rolled out.",
    )
    holdout: HoldoutRef | None = Field(
        default=None,
        description="The dataset (name@3) the gates are judged on; default: the data the new version trained on.",
    )
    rollout: RolloutPlan | None = Field(
        default=None, description="How the new version is rolled out once it passes; none: it is only registered."
    )
    reason: Reason = Field(default="", description="Why the retrain was asked for (in the rollout's reason).")
