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


def build_tokenizer():
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
        model_max_length=128,
    )


def build_text_encoder(vocab_size: int):
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(SEED)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        dropout_rate=0.0,
        relative_attention_num_buckets=8,
    )
    return T5EncoderModel(config).eval()


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
        num_layers=1,
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


BUILDERS = {"LTXPipeline": build_ltx_video}


def smoke_build(*, pipeline_class: str, folder: Path) -> Path:
    """Build the smoke model for ``pipeline_class`` and save it to ``folder``; returns the folder."""
    try:
        builder = BUILDERS[pipeline_class]
    except KeyError:
        raise ValueError(f"No smoke build exists for {pipeline_class}.") from None
    pipeline = builder()
    folder.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(folder, safe_serialization=True)
    # safetensors writes 0600 files; a worker running as another user must be able to read them.
    for path in folder.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder
