"""The browser viewer on the Serve ingress: the page at ``GET /``, its bundle under ``/static/``,
``GET /skeleton``, what the page's forward kinematics and drawing need from the body layer, and
``GET /avatar.glb``, the avatar it animates (skinned mesh, rig and retargeting parameters);
and the API docs at ``GET /docs`` (Swagger UI, whose assets the same build copies from npm's
``swagger-ui-dist`` into ``static/docs/``, so the page works offline).

The page's source is ``viewer/`` at the repository root; ``make viewer`` bundles it (three.js
included, nothing is fetched from a CDN at run time) into ``STATIC_DIR``, which git ignores.
Without that bundle ``/`` and ``/docs`` answer 503 naming ``make viewer`` and ``/static/...``
answers 404; the HTTP API (and ``/openapi.json``) works either way. The bundle is looked up per
request, so building it does not need a restart.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from signavatar.avatar.export import FORMATS, avatar_glb
from signavatar.body.joints import JOINT_NAMES, PARENTS, joint_index
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.rendering import skeleton_view
from signavatar.serving.errors import NotReady

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_FILE = "index.html"
DOCS_DIR = "docs"  # under STATIC_DIR: swagger-ui-dist's files (viewer/build.mjs)
DOCS_ASSETS = {"js": "swagger-ui-bundle.js", "css": "swagger-ui.css", "favicon": "favicon-32x32.png"}
BUILD_COMMAND = "make viewer"
MISSING_BUNDLE = (f"the viewer is not built: run `{BUILD_COMMAND}` in the repository root (it bundles viewer/ "
                  "into signavatar/serving/static/), then reload this page; the HTTP API works without it")


class SkeletonBone(BaseModel):
    parent: int
    child: int
    color: str = Field(..., description="#rrggbb")
    width_m: float = Field(..., description="drawn thickness in metres")


class SkeletonHead(BaseModel):
    """A head sphere: centre and nose are offsets in the head joint's frame (rotate with it)."""

    joint: int
    center_offset: list[float]
    nose_offset: list[float]
    eyes: list[int] = Field(..., description="eye joints, drawn on the sphere's surface")
    radius_m: float
    color: str
    feature_color: str = Field(..., description="eyes and nose")


class SkeletonResponse(BaseModel):
    """The rest skeleton and how the previews draw it (``signavatar.rendering.skeleton_view``).

    Forward kinematics (``signavatar.body.skeleton.forward_kinematics``): ``G_j = G_parent R_j``,
    ``p_j = p_parent + G_parent (rest_j - rest_parent)``, root at ``rest_0 + trans``; SMPL-X joint
    order, metres, y up, z forward, the signer's left at +x."""

    joint_names: list[str]
    parents: list[int] = Field(..., description="parent joint index, -1 for the root")
    rest_joints: list[list[float]] = Field(..., description="[55, 3] rest (T-pose) joint positions")
    bones: list[SkeletonBone] = Field(..., description="what is drawn: torso from the pelvis up, arms, fingers")
    head: SkeletonHead
    legend: dict[str, str] = Field(..., description="colour of the signer's left and right side")


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _floats(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


@lru_cache(maxsize=1)
def skeleton_payload() -> SkeletonResponse:
    """The built-in rest skeleton (``DEFAULT_REST_JOINTS``), the one the previews are drawn on."""
    return SkeletonResponse(
        joint_names=list(JOINT_NAMES),
        parents=list(PARENTS),
        rest_joints=_floats(DEFAULT_REST_JOINTS),
        bones=[SkeletonBone(parent=b.parent, child=b.child, color=_hex(b.color), width_m=b.width_m)
               for b in skeleton_view.BONES],
        head=SkeletonHead(
            joint=joint_index("head"),
            # the preview's head geometry; private there, shared here so the two draw the same head
            center_offset=_floats(skeleton_view.HEAD_CENTER_OFFSET),
            nose_offset=_floats(skeleton_view.NOSE_OFFSET),
            eyes=[joint_index("left_eye_smplhf"), joint_index("right_eye_smplhf")],
            radius_m=skeleton_view.HEAD_RADIUS_M,
            color=_hex(skeleton_view.HEAD_FILL),
            feature_color=_hex(skeleton_view.MID_COLOR),
        ),
        legend={"left": _hex(skeleton_view.LEFT_COLOR), "right": _hex(skeleton_view.RIGHT_COLOR)},
    )


class _Bundle(StaticFiles):
    """``StaticFiles`` that answers 404 rather than failing while its folder does not exist yet."""

    async def check_config(self) -> None:
        if Path(self.directory).is_dir():
            await super().check_config()


def _missing_bundle_page() -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>SignAvatar viewer not built</title>"
        f"<h1>Viewer not built</h1><p>{MISSING_BUNDLE.replace('`', '<code>', 1).replace('`', '</code>', 1)}.</p>"
        '<p>API schema: <a href="openapi.json">openapi.json</a></p>',
        status_code=503,
    )


def _missing_bundle(request: Request) -> Response:
    """The page naming the build step for a browser, the JSON error for anything else."""
    if "text/html" in request.headers.get("accept", ""):
        return _missing_bundle_page()
    raise NotReady(MISSING_BUNDLE)  # JSON {error, message, request_id} like every API error


def add_docs_route(api: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """``GET /docs``: Swagger UI for ``openapi.json`` from the bundle's ``static/docs/``. URLs are
    relative (the page also works under a route prefix) and the online validator is off, so the
    page fetches nothing from outside the app."""

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        if not all((static_dir / DOCS_DIR / name).is_file() for name in DOCS_ASSETS.values()):
            return _missing_bundle(request)
        asset = {kind: f"static/{DOCS_DIR}/{name}" for kind, name in DOCS_ASSETS.items()}
        page = get_swagger_ui_html(openapi_url="openapi.json", title=f"{api.title} - API docs",
                                   swagger_js_url=asset["js"], swagger_css_url=asset["css"],
                                   swagger_favicon_url=asset["favicon"],
                                   swagger_ui_parameters={"validatorUrl": None})
        page.headers["cache-control"] = "no-cache"
        return page


def add_viewer_routes(api: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Add ``/``, ``/static/...`` and ``/skeleton`` to ``api``."""
    api.mount("/static", _Bundle(directory=static_dir, check_dir=False), name="static")

    @api.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index(request: Request) -> Response:
        page = static_dir / INDEX_FILE
        if page.is_file():
            return FileResponse(page, headers={"cache-control": "no-cache"})
        return _missing_bundle(request)

    @api.get("/skeleton", response_model=SkeletonResponse, summary="rest skeleton and bones for the viewer")
    async def skeleton() -> SkeletonResponse:
        return skeleton_payload()

    @api.get("/avatar.glb", summary="the viewer's avatar: skinned mesh, rig and retargeting parameters (glTF 2.0)",
             response_class=Response, responses={200: {"content": {FORMATS["glb"].media_type: {}}}})
    async def avatar() -> Response:
        data = await asyncio.to_thread(avatar_glb)  # built once per process (about a second), then cached
        return Response(data, media_type=FORMATS["glb"].media_type, headers={"cache-control": "no-cache"})
