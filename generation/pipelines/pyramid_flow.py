"""Pyramid Flow (miniFLUX) text-to-video and image-to-video, written for Backlot.

Pyramid Flow is not in diffusers; this pipeline loads the published checkpoint folder
(``rain1011/pyramid-flow-miniflux``) as it is, with no ``model_index.json``::

    causal_video_vae/            config.json + weights (PyramidFlowVAE)
    diffusion_transformer_384p/  config.json + weights (PyramidFlowTransformer)
    diffusion_transformer_768p/  the same architecture, trained for 768p and 10 s
    text_encoder/   tokenizer/   CLIP-L: pooled prompt embedding (77 tokens)
    text_encoder_2/ tokenizer_2/ T5-XXL encoder: prompt tokens (128 tokens)

The sampling follows the reference implementation (jy0205/Pyramid-Flow, ``pyramid_dit_for_video_gen_pipeline``
and ``diffusion_schedulers/scheduling_flow_matching``):

- Latent frames are generated one at a time (autoregressive); each is denoised through three stages of
  rising resolution (a quarter, half, then full latent size), each stage a flow-matching Euler run with
  its own steps. The published sampling uses 20 steps per stage for the first frame and 10 for the
  others (image to video: 10 for every generated frame).
- Between stages the latent is upsampled (nearest), rescaled and mixed with correlated 2x2 "block" noise.
- Each frame is conditioned on the frames before it, the most recent at the stage's resolution and older
  ones at lower resolutions (the temporal pyramid).
- Classifier-free guidance with ``guidance_scale`` for the first frame and ``video_guidance_scale`` for
  the later ones; the reference appends ", hyper quality, Ultra HD, 8K" to every prompt and has a
  default negative prompt.

Randomness: the initial noise comes from ``generator``; the block noise between stages and the sample of
the image's latent distribution come from ``noise_generator`` (by default a generator seeded like
``generator``). The reference draws these two from torch's global generator, so a reference run with
``torch.manual_seed(seed)`` and ``generator=torch.Generator().manual_seed(seed)`` gives the same frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from generation.pipelines.pyramid_flow_transformer import PyramidFlowTransformer
from generation.pipelines.pyramid_flow_vae import PyramidFlowVAE

VARIANTS = ("diffusion_transformer_384p", "diffusion_transformer_768p")
# Folder -> what it holds, for the failure message when one is missing.
COMPONENT_FOLDERS = {
    "causal_video_vae": "the causal video VAE",
    "text_encoder": "the CLIP text encoder",
    "text_encoder_2": "the T5 text encoder",
    "tokenizer": "the CLIP tokenizer",
    "tokenizer_2": "the T5 tokenizer",
}
PROMPT_SUFFIX = ", hyper quality, Ultra HD, 8K"
DEFAULT_NEGATIVE_PROMPT = (
    "cartoon style, worst quality, low quality, blurry, absolute black, absolute white, low res, extra limbs, "
    "extra digits, misplaced objects, mutated anatomy, monochrome, horror"
)
# The latent normalisation of the miniFLUX checkpoints: the first latent frame is an image latent, the rest
# are video latents with their own statistics.
IMAGE_SHIFT, IMAGE_SCALE = -0.04, 1 / 1.8726
VIDEO_SHIFT, VIDEO_SCALE = -0.2343, 1 / 3.0986
STAGES = 3
STAGE_RANGE = (0.0, 1 / 3, 2 / 3, 1.0)
GAMMA = 1 / 3  # the block noise's correlation
TRAIN_STEPS = 1000
# Pixels per latent pixel (8) times the two halvings of the pyramid times the transformer's 2x2 patch.
SIZE_MULTIPLE = 8 * 2 ** (STAGES - 1) * 2


class PyramidFlowError(ValueError):
    """A checkpoint folder that is not a Pyramid Flow checkpoint this pipeline can run."""


@dataclass
class PyramidFlowOutput(BaseOutput):
    frames: object  # np: (batch, frames, H, W, 3) float32 in [0, 1]; pt: (batch, 3, frames, H, W) in [-1, 1]


class StageSchedule:
    """The flow-matching schedule split into pyramid stages (the reference's
    PyramidFlowMatchEulerDiscreteScheduler with shift 1, stages [0, 1/3, 2/3, 1], gamma 1/3)."""

    def __init__(self, shift: float = 1.0, stages: int = STAGES, stage_range=STAGE_RANGE, gamma: float = GAMMA):
        self.gamma = gamma
        steps = np.linspace(1, TRAIN_STEPS, TRAIN_STEPS, dtype=np.float32)[::-1].copy()
        sigmas = torch.from_numpy(steps) / TRAIN_STEPS
        sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        timesteps = sigmas * TRAIN_STEPS
        self.original_start, starts, ends = [], [], []
        for stage in range(stages):
            start_index = max(int(stage_range[stage] * TRAIN_STEPS), 0)
            end_index = min(int(stage_range[stage + 1] * TRAIN_STEPS), TRAIN_STEPS)
            start = sigmas[start_index].item()
            end = sigmas[end_index].item() if end_index < TRAIN_STEPS else 0.0
            self.original_start.append(start)
            if stage:
                signal = 1 - start
                start = 1 - signal / (math.sqrt(1 + 1 / gamma) * (1 - signal) + signal)
            starts.append(start)
            ends.append(end)
        distances = [s - e for s, e in zip(starts, ends, strict=True)]
        total = sum(distances)
        self.bounds = []  # (first timestep, last timestep) of each stage's 1000-step table
        for stage in range(stages):
            lo = 0.0 if stage == 0 else sum(distances[:stage]) / total
            hi = 1.0 if stage == stages - 1 else sum(distances[: stage + 1]) / total
            first = timesteps[int(lo * TRAIN_STEPS)]
            last = timesteps[min(int(hi * TRAIN_STEPS), TRAIN_STEPS - 1)]
            table = np.linspace(np.asarray(first), np.asarray(last), TRAIN_STEPS + 1)[:-1]
            self.bounds.append((float(table[0]), float(table[-1])))
        self.sigma_last = float(np.linspace(1, 0, TRAIN_STEPS + 1)[-2])

    def stage(self, index: int, steps: int) -> tuple[torch.Tensor, list[float]]:
        """The timesteps of stage ``index`` in ``steps`` steps (float64), and its sigmas (steps + 1, ending at 0)."""
        first, last = self.bounds[index]
        timesteps = torch.from_numpy(np.linspace(first, last, steps))
        sigmas = [*np.linspace(1.0, self.sigma_last, steps).tolist(), 0.0]
        return timesteps, sigmas

    def renoise(self, index: int) -> tuple[float, float]:
        """(alpha, beta): how the upsampled latent and the block noise mix entering stage ``index``."""
        signal = 1 - self.original_start[index]
        alpha = 1 / (math.sqrt(1 + 1 / self.gamma) * (1 - signal) + signal)
        return alpha, alpha * (1 - signal) / math.sqrt(self.gamma)


def _check_folder(folder: Path, variant: str) -> None:
    if not folder.is_dir():
        raise PyramidFlowError(f"{folder} is not a folder.")
    missing = [f"{name}/ ({what})" for name, what in COMPONENT_FOLDERS.items() if not (folder / name).is_dir()]
    if not (folder / variant / "config.json").is_file():
        missing.append(f"{variant}/config.json (the diffusion transformer)")
    if not (folder / "causal_video_vae" / "config.json").is_file() and (folder / "causal_video_vae").is_dir():
        missing.append("causal_video_vae/config.json (the causal video VAE's config)")
    if missing:
        raise PyramidFlowError(f"The Pyramid Flow checkpoint in {folder} lacks {', '.join(missing)}.")


def _check_fit(transformer, vae, text_encoder, text_encoder_2) -> None:
    """The components must fit together; a mismatch would otherwise crash deep inside the first step."""
    problems = []
    latent = vae.config.encoder_out_channels
    if transformer.latent_channels != latent or vae.config.decoder_in_channels != latent:
        problems.append(
            f"the transformer takes {transformer.latent_channels} latent channels (in_channels "
            f"{transformer.config.in_channels} / 4) but the VAE makes {latent} (decoder_in_channels "
            f"{vae.config.decoder_in_channels})"
        )
    if transformer.config.joint_attention_dim != text_encoder_2.config.d_model:
        problems.append(
            f"the transformer's joint_attention_dim is {transformer.config.joint_attention_dim} but the T5 "
            f"encoder's d_model is {text_encoder_2.config.d_model}"
        )
    if transformer.config.pooled_projection_dim != text_encoder.config.hidden_size:
        problems.append(
            f"the transformer's pooled_projection_dim is {transformer.config.pooled_projection_dim} but the "
            f"CLIP encoder's hidden_size is {text_encoder.config.hidden_size}"
        )
    if vae.space_scale != 8 or sum(bool(flag) for flag in vae.config.encoder_temporal_down_sample) != 3:
        problems.append("the VAE must compress 8x in space and 8x in time")
    if problems:
        raise PyramidFlowError("Mismatched Pyramid Flow configs: " + "; ".join(problems) + ".")


class PyramidFlowPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->text_encoder_2->transformer->vae"
    _optional_components: list[str] = []

    def __init__(self, transformer, vae, text_encoder, tokenizer, text_encoder_2, tokenizer_2):
        super().__init__()
        self.register_modules(
            transformer=transformer,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
        )
        self.schedule = StageSchedule()
        self.num_timesteps = 0

    @classmethod
    def from_pretrained(cls, source, dtype=None, variant: str = VARIANTS[0], **_ignored):
        """Load the published folder layout from a local folder or a hub id (``variant``: which
        ``diffusion_transformer_*`` folder)."""
        from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

        if variant not in VARIANTS:
            raise PyramidFlowError(f"Unknown variant {variant!r}; one of {', '.join(VARIANTS)}.")
        folder = Path(source)
        if not folder.exists() and "/" in str(source) and not str(source).startswith(("/", ".")):
            from huggingface_hub import snapshot_download

            allow = [f"{variant}/*", *(f"{name}/*" for name in COMPONENT_FOLDERS)]
            folder = Path(snapshot_download(str(source), allow_patterns=allow))
        _check_folder(folder, variant)
        dtype = dtype or torch.float32
        transformer = PyramidFlowTransformer.from_pretrained(folder / variant, torch_dtype=dtype)
        vae = PyramidFlowVAE.from_pretrained(folder / "causal_video_vae", torch_dtype=dtype)
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=dtype)
        text_encoder_2 = T5EncoderModel.from_pretrained(folder / "text_encoder_2", dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
        tokenizer_2 = T5TokenizerFast.from_pretrained(folder / "tokenizer_2")
        _check_fit(transformer, vae, text_encoder, text_encoder_2)
        for model in (transformer, vae, text_encoder, text_encoder_2):
            model.eval().requires_grad_(False)
        return cls(transformer, vae, text_encoder, tokenizer, text_encoder_2, tokenizer_2)

    @classmethod
    def from_pipe(cls, pipeline, **_ignored):
        """Image to video runs on the same pipeline (the reference's generate_i2v uses the same components)."""
        return pipeline

    def save_pretrained(self, folder, variants=VARIANTS, **kwargs):
        """Write the published layout (no model_index.json); the transformer to each of ``variants``."""
        folder = Path(folder)
        for variant in variants:
            self.transformer.save_pretrained(folder / variant, **kwargs)
        self.vae.save_pretrained(folder / "causal_video_vae", **kwargs)
        for name in ("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"):
            getattr(self, name).save_pretrained(folder / name)

    # Prompts ----------------------------------------------------------------------------------------------

    def _encode(self, prompt: str, device, max_sequence_length: int):
        length = self.tokenizer.model_max_length
        clip = self.tokenizer([prompt], padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        pooled = self.text_encoder(clip.input_ids.to(device)).pooler_output
        t5 = self.tokenizer_2(
            [prompt], padding="max_length", max_length=max_sequence_length, truncation=True, return_tensors="pt"
        )
        mask = t5.attention_mask.to(device)
        embeds = self.text_encoder_2(t5.input_ids.to(device), attention_mask=mask)[0]
        return embeds.to(self.text_encoder_2.dtype), mask, pooled.to(self.text_encoder.dtype)

    # Sampling ---------------------------------------------------------------------------------------------

    @staticmethod
    def _pyramid(latents: torch.Tensor) -> list[torch.Tensor]:
        """The clean latents at every stage's resolution, lowest first (bilinear halving)."""
        levels = [latents]
        b, c, t, h, w = latents.shape
        for _ in range(STAGES - 1):
            h, w = h // 2, w // 2
            x = levels[-1].transpose(1, 2).reshape(b * t, c, *levels[-1].shape[-2:])
            x = F.interpolate(x, size=(h, w), mode="bilinear")
            levels.append(x.reshape(b, t, c, h, w).transpose(1, 2))
        return levels[::-1]

    @staticmethod
    def _history(clean: list[torch.Tensor], stage: int, unit: int) -> list[torch.Tensor]:
        """The past frames a new frame sees at ``stage``: the last one at the stage's resolution, older ones
        one stage lower each, and all the rest at the lowest; oldest first."""
        history = [clean[stage][:, :, -1:]]
        level, back = stage, 1
        while back < unit:
            level = max(level - 1, 0)
            if level == 0:
                break
            back += 1
            history.append(clean[level][:, :, -back : -(back - 1)])
        if level == 0 and back < unit:
            history.append(clean[0][:, :, :-back])
        return history[::-1]

    def _denoise_frame(self, noise, history, embeds, steps, guidance, noise_generator, step_end):
        """Run one latent frame through the three stages; ``history[stage]``: its past clips per stage."""
        latents = noise
        for stage in range(STAGES):
            timesteps, sigmas = self.schedule.stage(stage, steps[stage])
            if stage:
                b, c, t, h, w = latents.shape
                x = F.interpolate(latents.transpose(1, 2).reshape(b * t, c, h, w), size=(h * 2, w * 2), mode="nearest")
                latents = x.reshape(b, t, c, h * 2, w * 2).transpose(1, 2)
                alpha, beta = self.schedule.renoise(stage)
                block = block_noise(latents.shape, self.schedule.gamma, noise_generator).to(
                    latents.device, latents.dtype
                )
                latents = alpha * latents + beta * block
            past = [torch.cat([clip] * 2) if self._cfg else clip for clip in history[stage]]
            for index, timestep in enumerate(timesteps):
                model_input = torch.cat([latents] * 2) if self._cfg else latents
                t_batch = timestep.expand(model_input.shape[0]).to(device=model_input.device, dtype=model_input.dtype)
                velocity = self.transformer(
                    [*past, model_input],
                    encoder_hidden_states=embeds[0],
                    encoder_attention_mask=embeds[1],
                    pooled_projections=embeds[2],
                    timestep=t_batch,
                )
                if self._cfg:
                    uncond, cond = velocity.chunk(2)
                    velocity = uncond + guidance * (cond - uncond)
                latents = (latents.float() + (sigmas[index + 1] - sigmas[index]) * velocity).to(velocity.dtype)
                step_end(timestep)
        return latents

    def decode_latents(self, latents: torch.Tensor, window: int = 1, tile: int = 256) -> torch.Tensor:
        """Normalised latents -> pixels in about [-1, 1] (B, 3, F, H, W)."""
        latents = latents.clone()
        latents[:, :, :1] = latents[:, :, :1] / IMAGE_SCALE + IMAGE_SHIFT
        latents[:, :, 1:] = latents[:, :, 1:] / VIDEO_SCALE + VIDEO_SHIFT
        return self.vae.decode(latents.to(self.vae.dtype), window=window, tile=tile)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        *,
        width: int,
        height: int,
        num_frames: int | None = None,
        num_inference_steps: int | list[int] = 20,
        video_num_inference_steps: int | list[int] | None = None,
        guidance_scale: float = 7.0,
        video_guidance_scale: float | None = None,
        image=None,
        generator: torch.Generator | None = None,
        noise_generator: torch.Generator | None = None,
        output_type: str = "np",
        max_sequence_length: int = 128,
        callback_on_step_end=None,
        save_memory: bool = True,
        **_ignored,
    ) -> PyramidFlowOutput:
        """Text to video (``image`` None; ``num_frames`` = 8k+1) or image to video (``image``: a PIL image
        of the clip's size, which becomes the first frame). Steps per stage: ``num_inference_steps`` for the
        first frame, ``video_num_inference_steps`` (default half of it) for the others; image to video uses
        ``video_num_inference_steps`` for every frame it generates. Guidance: ``guidance_scale`` for the
        first frame, ``video_guidance_scale`` (default 5 for text, 4 for image to video) for the rest."""
        if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
            raise ValueError(f"Width and height must be multiples of {SIZE_MULTIPLE}, not {width}x{height}.")
        if num_frames is None or num_frames < 1 or (num_frames - 1) % 8:
            raise ValueError(f"Pyramid Flow renders 8k+1 frames, not {num_frames}.")
        image_mode = image is not None
        first_steps = _per_stage(num_inference_steps)
        video_steps = _per_stage(
            video_num_inference_steps
            if video_num_inference_steps is not None
            else [max(1, math.ceil(s / 2)) for s in first_steps]
        )
        if video_guidance_scale is None:
            video_guidance_scale = 4.0 if image_mode else 5.0
        if generator is None:
            generator = torch.Generator().manual_seed(torch.initial_seed() % 2**63)
        if noise_generator is None:
            noise_generator = torch.Generator().manual_seed(generator.initial_seed())
        device = self._execution_device
        dtype = self.transformer.dtype
        latent_frames = (num_frames - 1) // 8 + 1
        self.num_timesteps = sum(video_steps) * (latent_frames - 1) + (0 if image_mode else sum(first_steps))
        done = 0

        def step_end(timestep):
            nonlocal done
            done += 1
            if callback_on_step_end is not None:
                callback_on_step_end(self, done - 1, timestep, {})

        negative = DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt
        positive = self._encode(prompt + PROMPT_SUFFIX, device, max_sequence_length)
        self._cfg = guidance_scale > 0
        if self._cfg:
            negative_embeds = self._encode(negative, device, max_sequence_length)
            embeds = tuple(torch.cat([n, p]) for n, p in zip(negative_embeds, positive, strict=True))
        else:
            embeds = positive

        channels = self.transformer.latent_channels
        shape = (1, channels, latent_frames, height // 8, width // 8)
        noise = randn_tensor(shape, generator=generator, device=device, dtype=embeds[0].dtype)
        b, c, t, h, w = noise.shape
        noise = noise.transpose(1, 2).reshape(b * t, c, h, w)
        for _ in range(STAGES - 1):
            h, w = h // 2, w // 2
            noise = F.interpolate(noise, size=(h, w), mode="bilinear") * 2
        noise = noise.reshape(b, t, c, h, w).transpose(1, 2)

        frames: list[torch.Tensor] = []
        if image_mode:
            pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
            pixels = (pixels.permute(2, 0, 1)[None, :, None] - 0.5) / 0.5
            sample = self.vae.encode_sample(pixels.to(device, self.vae.dtype), generator=noise_generator)
            frames.append((sample - IMAGE_SHIFT) * IMAGE_SCALE)
        for unit in range(len(frames), latent_frames):
            first = unit == 0
            if first:
                history = [[] for _ in range(STAGES)]
            else:
                clean = self._pyramid(torch.cat(frames, dim=2))
                history = [self._history(clean, stage, unit) for stage in range(STAGES)]
            index = unit - 1 if image_mode else unit
            frames.append(
                self._denoise_frame(
                    noise[:, :, index : index + 1].to(dtype),
                    history,
                    embeds,
                    first_steps if first else video_steps,
                    guidance_scale if first else video_guidance_scale,
                    noise_generator,
                    step_end,
                )
            )
        latents = torch.cat(frames, dim=2)
        if output_type == "latent":
            return PyramidFlowOutput(frames=latents)
        video = self.decode_latents(latents, window=1 if save_memory else 2, tile=256 if save_memory else 512)
        self.maybe_free_model_hooks()
        if output_type == "pt":
            return PyramidFlowOutput(frames=video)
        video = ((video.float() + 1) / 2).clamp(0, 1)
        return PyramidFlowOutput(frames=video.permute(0, 2, 3, 4, 1).cpu().numpy())


def block_noise(shape, gamma: float, generator) -> torch.Tensor:
    """Noise correlated within each 2x2 block (covariance (1 + gamma) I - gamma), one block at a time in the
    order the reference draws them (four normals per block)."""
    b, c, t, h, w = shape
    tril = _block_noise_tril(gamma)
    count = b * c * t * (h // 2) * (w // 2)
    draws = torch.stack([torch.randn(4, generator=generator) for _ in range(count)])
    blocks = torch.matmul(tril, draws.unsqueeze(-1)).squeeze(-1)
    blocks = blocks.reshape(b, c, t, h // 2, w // 2, 2, 2).permute(0, 1, 2, 3, 5, 4, 6)
    return blocks.reshape(b, c, t, h, w)


def _block_noise_tril(gamma: float) -> torch.Tensor:
    """The Cholesky factor of the block noise's covariance (1 + gamma) I - gamma. At the published gamma 1/3
    the matrix is singular (each block's noise sums to zero), so torch.linalg.cholesky and
    torch.distributions.MultivariateNormal (which the reference uses) refuse it on current torch versions;
    the factor is computed here in float64 from the leading 3x3 block, with the last pivot clamped at 0."""
    covariance = torch.eye(4, dtype=torch.float64) * (1 + gamma) - torch.ones(4, 4, dtype=torch.float64) * gamma
    tril = torch.zeros(4, 4, dtype=torch.float64)
    tril[:3, :3] = torch.linalg.cholesky(covariance[:3, :3])
    tril[3, :3] = torch.linalg.solve_triangular(tril[:3, :3], covariance[:3, 3:], upper=False).squeeze(1)
    tril[3, 3] = torch.sqrt(torch.clamp(covariance[3, 3] - tril[3, :3].pow(2).sum(), min=0.0))
    return tril.float()


def _per_stage(steps) -> list[int]:
    steps = [steps] * STAGES if isinstance(steps, int) else list(steps)
    if len(steps) != STAGES or any(int(s) < 1 for s in steps):
        raise ValueError(f"Steps must be {STAGES} positive counts, one per stage, not {steps}.")
    return [int(s) for s in steps]


def folder_layout(folder: os.PathLike) -> list[str]:
    """The component folders present in ``folder`` (for messages and checks)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.is_dir())
