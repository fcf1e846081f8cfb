"""Request and response models of the HTTP API (they are also what the OpenAPI docs show).

Range limits that depend on the deployment (``ServeConfig.max_num_samples`` etc.) are checked in
``signavatar.serving.limits``; the models here fix types and static bounds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Gender = Literal["neutral", "male", "female"]
OutputFormat = Literal["json", "npz"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateOptions(_Strict):
    num_samples: int = Field(1, ge=1, description="clips to sample for the input (z ~ N(0, I))")
    seed: int = Field(0, ge=0, lt=2**63, description="same seed, same input -> same clips")
    num_frames: int | None = Field(None, ge=2, description="frames per clip; default: the model's length")
    format: OutputFormat = Field("json", description="json: clips in the body; npz: AMASS .npz (.zip if several)")
    gender: Gender = Field("neutral", description="body model named in the .npz output")


class GenerateRequest(GenerateOptions):
    """JSON body of ``POST /generate``; an image instead comes as multipart field ``image``."""

    text: str = Field(..., description="a gloss or a short text, encoded by CLIP unless it is a known gloss")


class ReconstructOptions(_Strict):
    """Form fields of ``POST /reconstruct`` besides the uploaded ``file``."""

    gloss: str = Field(..., description="the word signed in the upload (conditions the CVAE)")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the posterior sample")
    format: OutputFormat = "json"
    gender: Gender = "neutral"


class MotionClipJSON(BaseModel):
    """A motion clip as JSON (``signavatar.motion.json_io``): axis-angle, SMPL-X joint order."""

    gloss: str
    clip_id: str
    split: str
    fps: float
    num_frames: int
    source: dict[str, Any]
    poses: list[list[list[float]]] = Field(..., description="[T, 55, 3] axis-angle")
    expression: list[list[float]] = Field(..., description="[T, 10]")
    betas: list[float] = Field(..., description="[10]")
    trans: list[list[float]] = Field(..., description="[T, 3]")
    confidence: list[float] | None = None


class GenerateResponse(BaseModel):
    clips: list[MotionClipJSON]
    gender: Gender


class ReconstructResponse(BaseModel):
    clip: MotionClipJSON
    gender: Gender


class GlossesResponse(BaseModel):
    glosses: list[str] = Field(..., description="vocabulary with cached embeddings (no CLIP forward needed)")
    embedding_dim: int
    num_frames: int = Field(..., description="default length of generated clips")
    fps: float


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    ready: bool
    device: str
    glosses: int
    video_estimator: str | None


class ErrorResponse(BaseModel):
    error: str = Field(..., description="machine-readable code, e.g. invalid_input")
    message: str = Field(..., description="what is wrong, naming the field or input")
    request_id: str
