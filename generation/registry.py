"""The text-to-video models Backlot can serve, and the rules each one's pipeline needs.

The rules are checked before a job is queued (ModelSpec.validate): pipelines check less than they
need, and some settings that pass their checks crash deep inside or come back with other frame counts.
Each model's comment says where in diffusers its rules come from.

A model is loaded from its hub id in real deployments and from its smoke build (tiny random
weights, see generation/smoke.py) in tests and the demo; both go through the same
``from_pretrained`` call, and only the source differs (settings.BACKLOT_MODEL_SOURCES).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TEXT_TO_VIDEO = "text_to_video"
IMAGE_TO_VIDEO = "image_to_video"
KEYFRAMES = "keyframes"
EXTEND = "extend"
RESTYLE = "restyle"
UPSCALE = "upscale"

MODE_LABELS = {
    TEXT_TO_VIDEO: "Text to video",
    IMAGE_TO_VIDEO: "Image to video",
    KEYFRAMES: "First and last frame",
    EXTEND: "Extend a clip",
    RESTYLE: "Restyle a clip",
    UPSCALE: "Upscale a clip 2x",
}

# The inputs a mode may take besides the prompt and settings.
IMAGE, LAST_IMAGE, SOURCE, STRENGTH = "image", "last_image", "source", "strength"
MODE_INPUTS = (IMAGE, LAST_IMAGE, SOURCE, STRENGTH)


@dataclass(frozen=True)
class ExtraComponent:
    """A part a mode's pipeline needs that the model's text-to-video checkpoint lacks, loaded on the worker
    beside the resident pipeline (which lends the mode every part it does not replace). Two modes that name the
    same part from the same place share one loaded copy."""

    name: str  # the pipeline's component name ("transformer", "image_encoder", ...)
    class_path: str  # "module.Class" of the part, loaded with its from_pretrained
    hub_id: str  # the published checkpoint that holds it
    hub_subfolder: str = ""  # where in that checkpoint ("" for its root)
    folder: str = ""  # its sub-folder of the smoke build or a configured local model folder; default its name

    @property
    def local_folder(self) -> str:
        return self.folder or self.name


@dataclass(frozen=True)
class ModeSpec:
    """A creative mode one model offers: the diffusers pipeline that renders it (built on the worker from
    the model's resident text-to-video pipeline, sharing its components) and the inputs it needs."""

    key: str
    pipeline_class: str
    inputs: tuple[str, ...]
    # The parts the text-to-video checkpoint lacks (see ExtraComponent).
    extra_components: tuple[ExtraComponent, ...] = ()
    # The only (width, height) sizes the mode renders, where its checkpoint is fixed to some; () for any.
    sizes: tuple[tuple[int, int], ...] = ()
    # The most pixels a frame may have, where the mode's checkpoint was trained at a smaller size than the
    # model's own (0: the model's limits).
    max_pixels: int = 0

    @property
    def label(self) -> str:
        return MODE_LABELS[self.key]


# LTX-Video (pipelines/ltx): LTXImageToVideoPipeline and LTXConditionPipeline take exactly the
# text-to-video checkpoint's five components; LTXConditionPipeline conditions on images at any frame
# index (keyframes) or on a clip's frames (extend). LTXLatentUpsamplePipeline needs only the VAE and the
# separately published spatial latent upsampler.
_LTX_MODES = (
    ModeSpec(IMAGE_TO_VIDEO, "LTXImageToVideoPipeline", (IMAGE,)),
    ModeSpec(KEYFRAMES, "LTXConditionPipeline", (IMAGE, LAST_IMAGE)),
    ModeSpec(EXTEND, "LTXConditionPipeline", (SOURCE,)),
    ModeSpec(
        UPSCALE,
        "LTXLatentUpsamplePipeline",
        (SOURCE,),
        extra_components=(
            ExtraComponent(
                "latent_upsampler",
                "diffusers.pipelines.ltx.modeling_latent_upsampler.LTXLatentUpsamplerModel",
                "Lightricks/ltxv-spatial-upscaler-0.9.7",
            ),
        ),
    ),
)
# CogVideoX (pipelines/cogvideo): CogVideoXVideoToVideoPipeline runs on the text-to-video checkpoint.
# Image to video is not offered: CogVideoXImageToVideoPipeline needs the separate I2V checkpoints, whose
# transformer takes the image latents as extra input channels (in_channels 32, not 16).
_COGVIDEOX_MODES = (ModeSpec(RESTYLE, "CogVideoXVideoToVideoPipeline", (SOURCE, STRENGTH)),)
# CogVideoX 5B's image to video: CogVideoXImageToVideoPipeline on the 5B checkpoint's text encoder, VAE and
# scheduler with the I2V checkpoint's own transformer (the image latents are extra input channels). That
# transformer's learned position embeddings are laid out for 720x480 only: the pipeline refuses other sizes.
_COGVIDEOX_5B_MODES = (
    *_COGVIDEOX_MODES,
    ModeSpec(
        IMAGE_TO_VIDEO,
        "CogVideoXImageToVideoPipeline",
        (IMAGE,),
        extra_components=(
            ExtraComponent(
                "transformer",
                "diffusers.CogVideoXTransformer3DModel",
                "THUDM/CogVideoX-5b-I2V",
                hub_subfolder="transformer",
                folder="i2v_transformer",
            ),
        ),
        sizes=((720, 480),),
    ),
)

# Wan 2.1 14B (pipelines/wan/pipeline_wan_i2v.py): WanImageToVideoPipeline on the text-to-video checkpoint's
# UMT5 text encoder, VAE and scheduler (the same in all Wan 2.1 checkpoints) with three parts of the image
# checkpoints: a transformer that takes the image latents and a mask as extra input channels (36, not 16) and
# the CLIP image's hidden states as extra cross-attention tokens, the CLIP image encoder (ViT-H/14) and its
# processor. First and last frame is the same pipeline with ``last_image``, on the FLF2V checkpoint's
# transformer: it reads both images' CLIP tokens at once (learned position embeddings for two images), which
# the I2V transformer cannot. Both use the I2V checkpoint's image encoder, so one copy serves both modes.
# The I2V checkpoint is the 480p one (832x480 pixels at most, any shape); FLF2V is a 720p one (1280x720).
# Wan 2.2's image to video has no image encoder (its transformer has no image_dim): such a mode would list only
# its transformer, as the encoder and processor are optional parts of the pipeline.
# 1.3B has no image checkpoints.
_WAN_I2V = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
_WAN_FLF2V = "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers"
_WAN_IMAGE_PARTS = (
    ExtraComponent("image_encoder", "transformers.CLIPVisionModel", _WAN_I2V, hub_subfolder="image_encoder"),
    ExtraComponent("image_processor", "transformers.CLIPImageProcessor", _WAN_I2V, hub_subfolder="image_processor"),
)
_WAN_14B_MODES = (
    ModeSpec(
        IMAGE_TO_VIDEO,
        "WanImageToVideoPipeline",
        (IMAGE,),
        extra_components=(
            ExtraComponent(
                "transformer",
                "diffusers.WanTransformer3DModel",
                _WAN_I2V,
                hub_subfolder="transformer",
                folder="i2v_transformer",
            ),
            *_WAN_IMAGE_PARTS,
        ),
        max_pixels=832 * 480,
    ),
    ModeSpec(
        KEYFRAMES,
        "WanImageToVideoPipeline",
        (IMAGE, LAST_IMAGE),
        extra_components=(
            ExtraComponent(
                "transformer",
                "diffusers.WanTransformer3DModel",
                _WAN_FLF2V,
                hub_subfolder="transformer",
                folder="flf2v_transformer",
            ),
            *_WAN_IMAGE_PARTS,
        ),
        max_pixels=1280 * 720,
    ),
)


@dataclass(frozen=True)
class ModelSpec:
    key: str
    label: str
    pipeline_class: str
    hub_id: str
    fps: int
    frame_step: int  # valid frame counts are frame_step * k + 1
    size_multiple: int
    min_size: int
    max_width: int
    max_height: int
    max_frames: int
    max_steps: int
    default_width: int
    default_height: int
    default_frames: int
    default_steps: int
    default_guidance: float
    max_guidance: float = 20.0
    # Fewest denoising steps the pipeline can run (Mochi's sigma schedule divides by steps // 2).
    min_steps: int = 1
    # Text tokens the prompt is padded or cut to; where the transformer has a fixed text length
    # (CogVideoX's max_text_seq_length) this must equal it.
    max_sequence_length: int = 128
    # GPU seconds per million pixel-frame-steps, plus a fixed cost (text encoding, VAE decode):
    # the estimate a job reserves against its grant's quota before it runs. Rough: attention grows with
    # the square of the clip's size, so long or large clips cost more than this says.
    seconds_per_unit: float = 0.011
    fixed_seconds: float = 2.0
    # The modes besides text to video that this model renders (see ModeSpec).
    modes: tuple[ModeSpec, ...] = ()
    # Extra keyword arguments for the pipeline's from_pretrained (Pyramid Flow: which transformer folder).
    load_options: tuple[tuple[str, str], ...] = ()
    # Pyramid Flow: each latent frame (frame_step frames) is denoised in this many stages, the first frame
    # with num_steps per stage and every later one with half as many (0: one run of num_steps).
    pyramid_stages: int = 0

    def mode_get(self, key: str) -> ModeSpec | None:
        return next((mode for mode in self.modes if mode.key == key), None)

    def mode_keys(self) -> list[str]:
        return [TEXT_TO_VIDEO, *(mode.key for mode in self.modes)]

    @property
    def queue(self) -> str:
        return f"render.{self.key}"

    @property
    def smoke_folder(self) -> Path:
        return settings.BACKLOT_MODELS_DIR / "smoke" / self.key

    def source(self) -> str:
        """The hub id or local folder that ``from_pretrained`` loads this model from."""
        configured = settings.BACKLOT_MODEL_SOURCES.get(self.key)
        if configured is None:
            return str(self.smoke_folder)
        return self.hub_id if configured == "hub" else configured

    def estimate_gpu_seconds(self, *, num_frames: int, width: int, height: int, num_steps: int) -> float:
        units = num_frames * width * height * num_steps / 1e6
        return round(self.fixed_seconds + self.seconds_per_unit * units, 2)

    def estimate_for_mode(self, mode: str, *, num_frames: int, width: int, height: int, num_steps: int) -> float:
        """The estimate for a job in ``mode``: an upscale runs no denoising steps (one VAE encode, the
        upsampler, one decode), so it costs as one step."""
        steps = 1 if mode == UPSCALE else num_steps
        return self.estimate_gpu_seconds(num_frames=num_frames, width=width, height=height, num_steps=steps)

    def denoising_steps(self, *, num_frames: int, num_steps: int, mode: str = TEXT_TO_VIDEO) -> int:
        """The steps a render reports progress for: ``num_steps``, or for Pyramid Flow every step of every
        stage of every latent frame (image to video: the image is the first frame and is not denoised)."""
        if not self.pyramid_stages:
            return num_steps
        later_frames = (num_frames - 1) // self.frame_step
        later = later_frames * self.pyramid_stages * max(1, -(-num_steps // 2))
        return later if mode == IMAGE_TO_VIDEO else later + self.pyramid_stages * num_steps

    def limits_within(self, grant=None) -> dict[str, int]:
        """The most frames, width, height and steps this model renders, narrowed to ``grant``'s limits."""
        limits = {
            "max_frames": self.max_frames,
            "max_width": self.max_width,
            "max_height": self.max_height,
            "max_steps": self.max_steps,
        }
        if grant is not None:
            limits = {name: min(value, getattr(grant, name)) for name, value in limits.items()}
        return limits

    def default_settings(self) -> dict:
        return {
            "num_frames": self.default_frames,
            "width": self.default_width,
            "height": self.default_height,
            "num_steps": self.default_steps,
            "guidance_scale": self.default_guidance,
        }

    def frame_counts_hint(self) -> str:
        examples = [count for count in (self.frame_step * k + 1 for k in (2, 6, 12)) if count <= self.max_frames]
        return f"{self.frame_step}k+1 (e.g. {', '.join(str(count) for count in examples or [1])})"

    def validate(
        self, *, num_frames: int, width: int, height: int, num_steps: int, guidance_scale: float
    ) -> dict[str, str]:
        """Check settings against this model's rules; returns {field: message} for each problem."""
        errors: dict[str, str] = {}
        if not (1 <= num_frames <= self.max_frames) or (num_frames - 1) % self.frame_step:
            errors["num_frames"] = f"{self.label} renders {self.frame_counts_hint()} frames, at most {self.max_frames}."
        for field, value, largest in (("width", width, self.max_width), ("height", height, self.max_height)):
            if value % self.size_multiple or not (self.min_size <= value <= largest):
                errors[field] = (
                    f"{field.capitalize()} must be a multiple of {self.size_multiple} "
                    f"from {self.min_size} to {largest} pixels."
                )
        if not (self.min_steps <= num_steps <= self.max_steps):
            errors["num_steps"] = f"Steps must be from {self.min_steps} to {self.max_steps}."
        if not (0 <= guidance_scale <= self.max_guidance):
            errors["guidance_scale"] = f"Guidance must be from 0 to {self.max_guidance:g}."
        return errors


# The smallest side a clip may have: the invisible mark's smallest tile (version 3, generation/marks/v3.py) is 128
# pixels, and a frame that cannot hold one carries no mark that can be read (a 96x96 clip traced 1 of 16 random
# codes, a 128x128 one 12 of 16 over four contents, the misses a still, strongly textured shot).
MIN_SIZE = 128

_BASE_SPECS = [
    ModelSpec(
        key="ltx-video",
        label="LTX-Video",
        pipeline_class="LTXPipeline",
        hub_id="Lightricks/LTX-Video",
        fps=24,
        frame_step=8,
        size_multiple=32,
        min_size=MIN_SIZE,
        max_width=1280,
        max_height=1280,
        max_frames=257,
        max_steps=100,
        default_width=704,
        default_height=480,
        default_frames=121,
        default_steps=30,
        default_guidance=3.0,
        modes=_LTX_MODES,
    ),
    # CogVideoX 1.0 (diffusers pipelines/cogvideo/pipeline_cogvideox.py). The VAE compresses 8x in space
    # and 4x in time and decodes latent frames in pairs (the first three together), so only an odd number
    # of latent frames decodes to the frames asked for: 8k+1 (13 frames would come back as 16). The
    # transformer patches latents 2x2, so sizes must be multiples of 16: other multiples of 8 pass the
    # pipeline's own check, lose a latent row or column in the patching, and crash with a shape mismatch
    # after the first transformer pass. 2B adds fixed sin-cos position
    # embeddings laid out for exactly max_text_seq_length (226) text tokens, so max_sequence_length must
    # be 226. The model card supports 720x480 and 49 frames only; smaller sizes run.
    ModelSpec(
        key="cogvideox-2b",
        label="CogVideoX 2B",
        pipeline_class="CogVideoXPipeline",
        hub_id="THUDM/CogVideoX-2b",
        fps=8,
        frame_step=8,
        size_multiple=16,
        min_size=MIN_SIZE,
        max_width=720,
        max_height=480,
        max_frames=49,
        max_steps=100,
        default_width=720,
        default_height=480,
        default_frames=49,
        default_steps=50,
        default_guidance=6.0,
        max_sequence_length=226,
        modes=_COGVIDEOX_MODES,
        # Estimate: the model card's ~45 s for the defaults on one H100.
        seconds_per_unit=0.053,
        fixed_seconds=10.0,
    ),
    # Mochi 1 preview (pipelines/mochi/pipeline_mochi.py): the pipeline hard-codes 8x spatial and 6x
    # temporal compression and a 2x2 patch, so frames are 6k+1 and sizes multiples of 16 (other multiples
    # of 8 pass its check and crash reshaping the transformer's output). Its sigma schedule
    # (linear_quadratic_schedule) divides by steps // 2: one step raises ZeroDivisionError.
    ModelSpec(
        key="mochi-1",
        label="Mochi 1 preview",
        pipeline_class="MochiPipeline",
        hub_id="genmo/mochi-1-preview",
        fps=30,
        frame_step=6,
        size_multiple=16,
        min_size=MIN_SIZE,
        max_width=848,
        max_height=480,
        max_frames=163,
        max_steps=100,
        min_steps=2,
        default_width=848,
        default_height=480,
        default_frames=85,
        default_steps=64,
        default_guidance=4.5,
        max_sequence_length=256,
        # Estimate from the model's size (10B, 24k tokens at the defaults): ~4 min on one H100,
        # plus a heavy VAE decode.
        seconds_per_unit=0.12,
        fixed_seconds=30.0,
    ),
    # Wan 2.1 text-to-video (pipelines/wan/pipeline_wan.py). Image to video and first and last frame on 14B
    # only (_WAN_14B_MODES). No restyle: WanVideoToVideoPipeline sizes its noise from the VAE's downsampling
    # alone, ignoring the VAE's patch_size that the fast smoke build uses (a shape mismatch), so it has no
    # smoke build to test on. The VAE compresses 8x in space and 4x in time, the transformer patches
    # (1, 2, 2): frames 4k+1 (others are rounded with a warning), sizes multiples of 16 (others raise).
    # 1.3B is a 480p model (832x480 or 480x832); 14B also does 720p.
    ModelSpec(
        key="wan2.1-1.3b",
        label="Wan 2.1 1.3B",
        pipeline_class="WanPipeline",
        hub_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        fps=16,
        frame_step=4,
        size_multiple=16,
        min_size=MIN_SIZE,
        max_width=832,
        max_height=832,
        max_frames=81,
        max_steps=100,
        default_width=832,
        default_height=480,
        default_frames=81,
        default_steps=50,
        default_guidance=5.0,
        max_sequence_length=512,
        # Estimate from the model's size (1.3B, 33k tokens at the defaults): ~70 s on one H100.
        seconds_per_unit=0.045,
        fixed_seconds=10.0,
    ),
]


# Pyramid Flow miniFLUX (generation/pipelines/pyramid_flow.py, our own pipeline: it is not in diffusers).
# The VAE compresses 8x in space and 8x in time, so frames are 8k+1 (121 = 5 s at 24 fps: 16 latent frames,
# the 384p checkpoint's limit; 241 = 10 s, the 768p checkpoint's). Each latent frame is denoised at a quarter,
# a half and the full latent size and the transformer patches 2x2, so sizes are multiples of 8 * 4 * 2 = 64.
# Steps are per stage: the first frame runs num_steps in each of the three stages, every later frame half
# as many (the published 20 and 10); guidance_scale guides the first frame, the later frames use the published
# video guidance (5 for text, 4 for image to video). Image to video runs on the same checkpoint.
_PYRAMID_FLOW_PIPELINE = "generation.pipelines.pyramid_flow.PyramidFlowPipeline"
_PYRAMID_FLOW = ModelSpec(
    key="pyramid-flow",
    label="Pyramid Flow 384p",
    pipeline_class=_PYRAMID_FLOW_PIPELINE,
    hub_id="rain1011/pyramid-flow-miniflux",
    fps=24,
    frame_step=8,
    size_multiple=64,
    min_size=128,
    max_width=640,
    max_height=640,
    max_frames=121,
    max_steps=50,
    default_width=640,
    default_height=384,
    default_frames=121,
    default_steps=20,
    default_guidance=7.0,
    max_sequence_length=128,
    modes=(ModeSpec(IMAGE_TO_VIDEO, _PYRAMID_FLOW_PIPELINE, (IMAGE,)),),
    load_options=(("variant", "diffusion_transformer_384p"),),
    pyramid_stages=3,
    # Estimate from the published timings (5 s at 768p in ~5.5 min on one A100): ~0.14 s per million
    # pixel-frame-steps; the pyramid makes most steps cheaper than full-size ones.
    seconds_per_unit=0.14,
    fixed_seconds=10.0,
)
_BASE_SPECS.append(_PYRAMID_FLOW)


def _variant(base_key: str, /, **changes) -> ModelSpec:
    """A larger checkpoint of the same pipeline: the same rules, another hub id, size limits and cost."""
    base = next(spec for spec in _BASE_SPECS if spec.key == base_key)
    return replace(base, **changes)


_VARIANTS = [
    # Estimate: the model card's ~90 s for the defaults on one H100, twice the 2B.
    _variant(
        "cogvideox-2b",
        key="cogvideox-5b",
        label="CogVideoX 5B",
        hub_id="THUDM/CogVideoX-5b",
        seconds_per_unit=0.106,
        modes=_COGVIDEOX_5B_MODES,
    ),
    # Estimate from the model's size (14B): ~7.5 min for the defaults on one H100, 6x the 1.3B.
    _variant(
        "wan2.1-1.3b",
        key="wan2.1-14b",
        label="Wan 2.1 14B",
        hub_id="Wan-AI/Wan2.1-T2V-14B-Diffusers",
        max_width=1280,
        max_height=1280,
        seconds_per_unit=0.28,
        modes=_WAN_14B_MODES,
    ),
    # The 768p checkpoint: 1280x768, up to 10 s (241 frames); guidance 9 is the published demo's default.
    _variant(
        "pyramid-flow",
        key="pyramid-flow-768p",
        label="Pyramid Flow 768p",
        max_width=1280,
        max_height=1280,
        max_frames=241,
        default_width=1280,
        default_height=768,
        default_guidance=9.0,
        load_options=(("variant", "diffusion_transformer_768p"),),
    ),
]

# Each variant listed right after the model it derives from.
MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for base in _BASE_SPECS
    for spec in [base, *(variant for variant in _VARIANTS if variant.pipeline_class == base.pipeline_class)]
}


def model_get(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise ImproperlyConfigured(f"Unknown model {key!r}.") from None


def model_choices() -> list[tuple[str, str]]:
    return [(spec.key, spec.label) for spec in MODELS.values()]
