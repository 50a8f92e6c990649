"""Smoke builds: real pipeline classes with tiny, randomly initialised weights.

A smoke build is written once to a folder with ``save_pretrained`` and then loaded by the worker
through the same ``from_pretrained`` call as a real model. Everything here is deterministic: a fixed
seed for every component and a hand-written tokenizer vocabulary, so two builds are byte-identical.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

SEED = 0

# A small fixed vocabulary: enough words for demo prompts, plus every printable ASCII character
# (with and without the word-start marker) so that any prompt tokenizes without falling back to <unk>.
_WORDS = (
    "a an the of in on at with and or to from by over under through into is are "
    "cat dog bird fish horse city street forest river ocean sea mountain sky cloud sun moon star rain "
    "snow fire light night day morning evening red blue green yellow black white golden dark bright "
    "slow fast camera pan zoom close wide shot drone aerial walking running flying dancing "
    "neon cinematic film video clip scene portrait landscape beautiful quiet storm wave"
).split()


def build_tokenizer(*, model_max_length: int = 128):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import T5TokenizerFast

    pieces: list[str] = ["<pad>", "</s>", "<unk>", "▁"]
    pieces += [f"▁{word}" for word in _WORDS]
    for char in string.printable.strip():
        pieces += [char, f"▁{char}"]
    vocab, seen = [], set()
    for index, piece in enumerate(pieces):
        if piece not in seen:
            seen.add(piece)
            # Whole words score higher than characters so that known words stay one token.
            vocab.append((piece, -1.0 if len(piece) > 2 else -5.0 - index * 1e-3))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return T5TokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=model_max_length,
    )


def build_text_encoder(vocab_size: int, *, umt5: bool = False):
    """A tiny T5 encoder (UMT5 for Wan), 32 wide, in eval mode (a model built directly starts in training)."""
    import torch
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    torch.manual_seed(SEED)
    config = config_class(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        relative_attention_num_buckets=8,
    )
    return model_class(config).eval()


def build_ltx_video():
    """An LTXPipeline whose VAE compresses like the real one (32x in space, 8x in time)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer = build_tokenizer()
    text_encoder = build_text_encoder(len(tokenizer))
    torch.manual_seed(SEED)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=2,
        caption_channels=32,
    )
    torch.manual_seed(SEED)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    return LTXPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    )


# The smoke CogVideoX transformer: one head, two layers, the real 226 text tokens and 90x60x49 latent layout.
_COGVIDEOX_TRANSFORMER = {
    "num_attention_heads": 1,
    "attention_head_dim": 16,
    "in_channels": 4,
    "out_channels": 4,
    "time_embed_dim": 8,
    "text_embed_dim": 32,
    "num_layers": 2,
    "sample_width": 90,
    "sample_height": 60,
    "sample_frames": 49,
    "patch_size": 2,
    "temporal_compression_ratio": 4,
    "max_text_seq_length": 226,
}


def _build_cogvideox(*, rotary: bool):
    """A CogVideoXPipeline whose VAE compresses like the real one (8x in space, 4x in time, latent frames
    decoded in pairs) and whose transformer takes the real 226 text tokens. ``rotary``: 5B's rotary
    position embeddings (and its scheduler's SNR shift) instead of 2B's fixed sin-cos ones."""
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    tokenizer = build_tokenizer(model_max_length=226)
    text_encoder = build_text_encoder(len(tokenizer))
    torch.manual_seed(SEED)
    transformer = CogVideoXTransformer3DModel(**_COGVIDEOX_TRANSFORMER, use_rotary_positional_embeddings=rotary)
    torch.manual_seed(SEED)
    # Four blocks (8x in space) as in the real VAE, but 2 channels and one resnet per decoder block: on a
    # CPU, 3D convolutions this narrow take PyTorch's slow path, and the decoder's full-size layers would
    # otherwise dominate the render (256x256, 49 frames: 1.8 s instead of 12.6 s).
    vae = AutoencoderKLCogVideoX(
        block_out_channels=(2, 2, 2, 2),
        latent_channels=4,
        layers_per_block=0,
        norm_num_groups=1,
        temporal_compression_ratio=4,
    )
    # The scheduler settings published with the real checkpoints (SNR shift: 2B 3.0, 5B 1.0).
    scheduler = CogVideoXDDIMScheduler(
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        snr_shift_scale=1.0 if rotary else 3.0,
    )
    return CogVideoXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )


def build_cogvideox_2b():
    return _build_cogvideox(rotary=False)


def build_cogvideox_5b():
    return _build_cogvideox(rotary=True)


def build_cogvideox_i2v_transformer():
    """CogVideoX 5B I2V's transformer for the 5B smoke build: as 5B's (rotary), with the image latents as
    extra input channels (twice the VAE's 4) and learned position embeddings laid out for 720x480, as the
    real checkpoint's are (90x60 latents)."""
    import torch
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(SEED)
    return CogVideoXTransformer3DModel(
        **{**_COGVIDEOX_TRANSFORMER, "in_channels": 8},
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    ).eval()


def build_mochi():
    """A MochiPipeline. The pipeline hard-codes the real VAE's 8x spatial and 6x temporal compression,
    so the tiny VAE keeps its expansions and only slims its layers."""
    import torch
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiPipeline, MochiTransformer3DModel

    tokenizer = build_tokenizer(model_max_length=256)
    text_encoder = build_text_encoder(len(tokenizer))
    torch.manual_seed(SEED)
    transformer = MochiTransformer3DModel(
        patch_size=2,
        num_attention_heads=1,
        attention_head_dim=16,
        num_layers=2,
        pooled_projection_dim=16,
        in_channels=12,
        text_embed_dim=32,
        time_embed_dim=4,
        max_sequence_length=256,
    )
    torch.manual_seed(SEED)
    # Resnets (whose group norms need multiples of 32 channels) only at the two smallest sizes, and 4
    # channels above them: the wide full-size layers would dominate the render (848x480, 85 frames:
    # 1.8 s and 1.7 GB to decode instead of 29 s and 11 GB).
    vae = AutoencoderKLMochi(
        latent_channels=12,
        encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(4, 4, 32, 32),
        layers_per_block=(0, 0, 0, 1, 1),
        temporal_expansions=(1, 2, 3),
        spatial_expansions=(2, 2, 2),
    )
    return MochiPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


def build_wan():
    """A WanPipeline (one build serves 1.3B and 14B: they differ only in width and depth). The rotary
    table covers 1024 latent positions per axis, as the real transformer's does."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    tokenizer = build_tokenizer(model_max_length=512)
    text_encoder = build_text_encoder(len(tokenizer), umt5=True)
    torch.manual_seed(SEED)
    transformer = WanTransformer3DModel(**_WAN_TRANSFORMER)
    torch.manual_seed(SEED)
    # 8x in space and 4x in time like the real VAE, but as 2x2 pixel patches (the VAE's own patch_size
    # option, which Wan 2.2 uses) and two 2x stages, so that its widest layers run on a quarter of the
    # pixels (256x256, 49 frames: 0.75 s to decode instead of 9.7 s with the real layout).
    vae = AutoencoderKLWan(
        base_dim=4,
        z_dim=16,
        dim_mult=[1, 1, 1],
        num_res_blocks=0,
        temperal_downsample=[True, True],
        patch_size=2,
        in_channels=12,
        out_channels=12,
        scale_factor_spatial=8,
        scale_factor_temporal=4,
    )
    # The scheduler the real checkpoints ship (flow_shift 3.0 is their 480p setting).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )


# The smoke Wan transformer (build_wan); the image checkpoints' transformers add image inputs to it.
_WAN_TRANSFORMER = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 1,
    "attention_head_dim": 12,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 32,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
}
# The smoke CLIP image encoder: 32x32 pixels in 8x8 patches, so 16 patch tokens and the class token.
_CLIP_IMAGE_SIZE, _CLIP_PATCH, _CLIP_WIDTH = 32, 8, 8
_CLIP_TOKENS = (_CLIP_IMAGE_SIZE // _CLIP_PATCH) ** 2 + 1


def _build_wan_image_transformer(*, images: int):
    """Wan 2.1's image-to-video transformer for the Wan smoke build: the noise latents, a 4-channel mask and the
    image latents (16 + 4 + 16 input channels), and the CLIP image tokens as extra cross-attention keys and
    values (image_dim: the encoder's width; added_kv_proj_dim: the transformer's). ``images`` 2: the
    first-and-last-frame checkpoint's, with learned position embeddings over both images' tokens."""
    import torch
    from diffusers import WanTransformer3DModel

    inner = _WAN_TRANSFORMER["num_attention_heads"] * _WAN_TRANSFORMER["attention_head_dim"]
    torch.manual_seed(SEED)
    return WanTransformer3DModel(
        **{**_WAN_TRANSFORMER, "in_channels": 36},
        image_dim=_CLIP_WIDTH,
        added_kv_proj_dim=inner,
        pos_embed_seq_len=images * _CLIP_TOKENS if images > 1 else None,
    ).eval()


def build_wan_i2v_transformer():
    return _build_wan_image_transformer(images=1)


def build_wan_flf2v_transformer():
    return _build_wan_image_transformer(images=2)


def build_wan_image_encoder():
    """A two-layer CLIP vision model (the real one is ViT-H/14: 1280 wide, 257 tokens); the pipeline reads its
    second-to-last hidden states."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(SEED)
    config = CLIPVisionConfig(
        hidden_size=_CLIP_WIDTH,
        intermediate_size=16,
        projection_dim=_CLIP_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_CLIP_IMAGE_SIZE,
        patch_size=_CLIP_PATCH,
    )
    return CLIPVisionModel(config).eval()


def build_wan_image_processor():
    """The CLIP image processor of the Wan 2.1 image checkpoints (OpenAI CLIP's mean and std, bicubic, resize
    and centre crop), at the smoke encoder's 32 pixels instead of 224."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": _CLIP_IMAGE_SIZE},
        resample=3,
        do_center_crop=True,
        crop_size={"height": _CLIP_IMAGE_SIZE, "width": _CLIP_IMAGE_SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True,
    )


def build_ltx_latent_upsampler():
    """LTX's spatial latent upsampler (2x in width and height) for the smoke VAE's 8 latent channels; its
    group norms need multiples of 32 channels."""
    import torch
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    torch.manual_seed(SEED)
    return LTXLatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1).eval()


def build_clip_tokenizer():
    """A CLIP BPE tokenizer with a hand-written byte-level vocabulary (every byte's printable stand-in, alone
    and as a word end) and no merges: it reads any prompt, one token per character, and needs no download."""
    from transformers import CLIPTokenizer

    # GPT-2's byte-to-character table: printable bytes stand for themselves, the others for chr(256 + n).
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    characters = [chr(byte) if byte in printable else chr(next(extra)) for byte in range(256)]
    pieces = ["<|startoftext|>", "<|endoftext|>", *characters, *(f"{char}</w>" for char in characters)]
    return CLIPTokenizer(vocab={piece: index for index, piece in enumerate(pieces)}, merges=[], model_max_length=77)


def build_pyramid_flow():
    """Pyramid Flow in the published folder layout (generation/pipelines/pyramid_flow.py) with tiny random
    weights: the real VAE's 8x compression in space and time with 8 channels instead of 128-512, a
    transformer with one double and one single block (one head of the real 64 channels: the rotary axes
    need them), a 2-layer CLIP and T5. The pipeline saves both transformer folders (384p, 768p)."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from generation.pipelines.pyramid_flow import PyramidFlowPipeline
    from generation.pipelines.pyramid_flow_transformer import PyramidFlowTransformer
    from generation.pipelines.pyramid_flow_vae import PyramidFlowVAE

    tokenizer = build_clip_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    tokenizer_2 = build_tokenizer(model_max_length=128)
    text_encoder_2 = build_text_encoder(len(tokenizer_2))
    torch.manual_seed(SEED)
    transformer = PyramidFlowTransformer(
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=64,
        num_attention_heads=1,
        joint_attention_dim=32,
        pooled_projection_dim=32,
    )
    # The reference zero-initialises the output and modulation layers: random ones make the smoke build's
    # frames depend on every part of the pipeline.
    for parameter in transformer.parameters():
        torch.nn.init.normal_(parameter, std=0.05)
    torch.manual_seed(SEED)
    vae = PyramidFlowVAE(
        encoder_out_channels=16,
        encoder_layers_per_block=(1, 1, 1, 1),
        encoder_block_out_channels=(8, 8, 8, 8),
        encoder_norm_num_groups=2,
        decoder_in_channels=16,
        decoder_layers_per_block=(1, 1, 1, 1),
        decoder_block_out_channels=(8, 8, 8, 8),
        decoder_norm_num_groups=2,
    )
    return PyramidFlowPipeline(
        transformer=transformer.eval(),
        vae=vae.eval(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
    )


# Model key -> {component name: builder} for components a mode needs that the text-to-video checkpoint
# lacks (registry.ModeSpec.extra_components); each is saved to a sub-folder of the model's folder.
EXTRA_BUILDERS = {
    "ltx-video": {"latent_upsampler": build_ltx_latent_upsampler},
    "cogvideox-5b": {"i2v_transformer": build_cogvideox_i2v_transformer},
    "wan2.1-14b": {
        "i2v_transformer": build_wan_i2v_transformer,
        "flf2v_transformer": build_wan_flf2v_transformer,
        "image_encoder": build_wan_image_encoder,
        "image_processor": build_wan_image_processor,
    },
}


def _saved(folder: Path) -> bool:
    """Whether ``folder`` holds a saved model (config.json) or processor (preprocessor_config.json)."""
    return (folder / "config.json").exists() or (folder / "preprocessor_config.json").exists()


def smoke_present(*, model_key: str, folder: Path) -> bool:
    """Whether ``folder`` holds a complete smoke build, the extra components included."""
    extras = EXTRA_BUILDERS.get(model_key, {})
    if model_key in LAYOUT_BUILDS:
        return all((folder / name / "config.json").exists() for name in LAYOUT_BUILDS[model_key])
    return (folder / "model_index.json").exists() and all(_saved(folder / name) for name in extras)


# Model key -> builder. Variants of one architecture share a build where their code paths are the same.
BUILDERS = {
    "ltx-video": build_ltx_video,
    "cogvideox-2b": build_cogvideox_2b,
    "cogvideox-5b": build_cogvideox_5b,
    "mochi-1": build_mochi,
    "wan2.1-1.3b": build_wan,
    "wan2.1-14b": build_wan,
    "pyramid-flow": build_pyramid_flow,
    "pyramid-flow-768p": build_pyramid_flow,
}

# Builds written in their checkpoint's own folder layout (no model_index.json): the folders with a config
# that make a complete build.
_PYRAMID_FLOW_FOLDERS = ("causal_video_vae", "diffusion_transformer_384p", "diffusion_transformer_768p", "text_encoder")
LAYOUT_BUILDS = dict.fromkeys(("pyramid-flow", "pyramid-flow-768p"), (*_PYRAMID_FLOW_FOLDERS, "text_encoder_2"))


def smoke_build(*, model_key: str, folder: Path) -> Path:
    """Build the smoke model for ``model_key`` and save it to ``folder``; returns the folder."""
    try:
        builder = BUILDERS[model_key]
    except KeyError:
        raise ValueError(f"No smoke build exists for {model_key}.") from None
    pipeline = builder()
    folder.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(folder, safe_serialization=True)
    for name, build in EXTRA_BUILDERS.get(model_key, {}).items():
        build().save_pretrained(folder / name, safe_serialization=True)
    # safetensors writes 0600 files; a worker running as another user must be able to read them.
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder
