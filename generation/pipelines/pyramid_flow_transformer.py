"""Pyramid Flow's miniFLUX diffusion transformer, written for Backlot on diffusers building blocks.

It loads the published ``diffusion_transformer_384p`` / ``diffusion_transformer_768p`` folders as they are:
the same ``config.json`` keys and the same weight names. Facts taken from the reference implementation
(``pyramid_dit/flux_modules`` in jy0205/Pyramid-Flow):

- FLUX's double-stream blocks (``transformer_blocks``: image and text tokens with their own weights, one
  joint attention) then single-stream blocks (``single_transformer_blocks``), with RMS-normalised queries and
  keys and three-axis rotary positions (time, height, width; 16 + 24 + 24 of the 64 channels per head; text
  tokens sit at position 0 on every axis).
- Latents are patched 2x2 whatever ``patch_size`` says (the config's ``in_channels`` 64 is 16 latent
  channels x 2 x 2); the conditioning is the flow timestep plus CLIP's pooled prompt embedding (no guidance
  embedding, unlike FLUX-dev).
- One forward pass takes the clip being denoised together with its clean past clips (lower resolutions for
  older ones): their tokens are concatenated after the text, each clip's height and width positions are
  stretched to the last clip's grid, and time positions count clips from 0. Attention is causal in time
  (a token sees tokens at its own time or earlier; text is at time 0) and padded text tokens see only
  padded text tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import FeedForward
from diffusers.models.embeddings import CombinedTimestepTextProjEmbeddings
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

PATCH = 2  # the reference hard-codes a 2x2 patch
ROPE_AXES = (16, 24, 24)  # the reference always builds its rotary table with these, whatever the config says
ROPE_THETA = 10000


class HeadRMSNorm(nn.Module):
    """RMS norm over the last axis with a learnt scale (``weight``), computed in float32 like the reference."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return x * self.weight


def _rotary_table(positions: torch.Tensor) -> torch.Tensor:
    """positions (B, N, 3) -> rotation matrices (B, N, 1, 32, 2, 2) for the three axes."""
    tables = []
    for axis, dim in enumerate(ROPE_AXES):
        scale = torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim
        omega = 1.0 / (ROPE_THETA**scale)
        angles = positions[..., axis].to(torch.float64)[..., None] * omega
        cos, sin = torch.cos(angles), torch.sin(angles)
        table = torch.stack([cos, -sin, sin, cos], dim=-1)
        tables.append(table.view(*angles.shape, 2, 2).float())
    return torch.cat(tables, dim=-3).unsqueeze(2)


def _rotate(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate (B, N, heads, head_dim) by the table, pairs of channels at a time, in float32."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = table[..., 0] * pairs[..., 0] + table[..., 1] * pairs[..., 1]
    return out.reshape(*x.shape).type_as(x)


def _attend(query, key, value, table, mask):
    """Joint attention over (B, N, heads, head_dim) tensors with rotary positions and a boolean mask."""
    query, key = _rotate(query, table), _rotate(key, table)
    out = F.scaled_dot_product_attention(
        query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2).flatten(2, 3)


class JointAttention(nn.Module):
    """FLUX attention: image projections (to_q/k/v), text projections (add_*_proj) when ``joint``."""

    def __init__(self, dim: int, heads: int, head_dim: int, *, joint: bool):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, inner) for _ in range(3))
        self.norm_q, self.norm_k = HeadRMSNorm(head_dim), HeadRMSNorm(head_dim)
        if joint:
            self.add_q_proj, self.add_k_proj, self.add_v_proj = (nn.Linear(dim, inner) for _ in range(3))
            self.norm_added_q, self.norm_added_k = HeadRMSNorm(head_dim), HeadRMSNorm(head_dim)
            self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(0.0)])
            self.to_add_out = nn.Linear(inner, dim)

    def _heads(self, x):
        return x.view(x.shape[0], -1, self.heads, self.head_dim)

    def project(self, x):
        q, k, v = self._heads(self.to_q(x)), self._heads(self.to_k(x)), self._heads(self.to_v(x))
        return self.norm_q(q), self.norm_k(k), v

    def project_text(self, x):
        q, k, v = self._heads(self.add_q_proj(x)), self._heads(self.add_k_proj(x)), self._heads(self.add_v_proj(x))
        return self.norm_added_q(q), self.norm_added_k(k), v


class AdaNormZero(nn.Module):
    """adaLN-Zero: ``linear`` maps the conditioning to ``parts`` shift/scale/gate vectors."""

    def __init__(self, dim: int, parts: int):
        super().__init__()
        self.parts = parts
        self.linear = nn.Linear(dim, parts * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x, emb):
        chunks = [c[:, None] for c in self.linear(F.silu(emb)).chunk(self.parts, dim=1)]
        shift, scale = chunks[0], chunks[1]
        return self.norm(x) * (1 + scale) + shift, chunks[2:]


class DoubleStreamBlock(nn.Module):
    """Weight names of the reference's FluxTransformerBlock."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.norm1 = AdaNormZero(dim, 6)
        self.norm1_context = AdaNormZero(dim, 6)
        self.attn = JointAttention(dim, heads, head_dim, joint=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim=dim, dim_out=dim, activation_fn="gelu-approximate")
        self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff_context = FeedForward(dim=dim, dim_out=dim, activation_fn="gelu-approximate")

    def forward(self, image, text, temb, table, mask):
        normed, (gate, shift_mlp, scale_mlp, gate_mlp) = self.norm1(image, temb)
        normed_text, (c_gate, c_shift_mlp, c_scale_mlp, c_gate_mlp) = self.norm1_context(text, temb)
        q, k, v = self.attn.project(normed)
        tq, tk, tv = self.attn.project_text(normed_text)
        joint = _attend(torch.cat([tq, q], 1), torch.cat([tk, k], 1), torch.cat([tv, v], 1), table, mask)
        text_len = text.shape[1]
        text_out, image_out = joint[:, :text_len], joint[:, text_len:]

        image = image + gate * self.attn.to_out[0](image_out)
        image = image + gate_mlp * self.ff(self.norm2(image) * (1 + scale_mlp) + shift_mlp)
        text = text + c_gate * self.attn.to_add_out(text_out)
        text = text + c_gate_mlp * self.ff_context(self.norm2_context(text) * (1 + c_scale_mlp) + c_shift_mlp)
        if text.dtype == torch.float16:
            text = text.clip(-65504, 65504)
        return image, text


class SingleStreamBlock(nn.Module):
    """Weight names of the reference's FluxSingleTransformerBlock: attention and MLP in parallel."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm = AdaNormZero(dim, 3)
        self.proj_mlp = nn.Linear(dim, hidden)
        self.act_mlp = nn.GELU(approximate="tanh")
        self.proj_out = nn.Linear(dim + hidden, dim)
        self.attn = JointAttention(dim, heads, head_dim, joint=False)

    def forward(self, tokens, temb, table, mask):
        normed, (gate,) = self.norm(tokens, temb)
        mlp = self.act_mlp(self.proj_mlp(normed))
        attn = _attend(*self.attn.project(normed), table, mask)
        tokens = tokens + gate * self.proj_out(torch.cat([attn, mlp], dim=2))
        if tokens.dtype == torch.float16:
            tokens = tokens.clip(-65504, 65504)
        return tokens


class AdaNormOut(nn.Module):
    """The final adaptive norm: ``linear`` gives scale then shift."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x, emb):
        scale, shift = self.linear(F.silu(emb).to(x.dtype)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class PyramidFlowTransformer(ModelMixin, ConfigMixin):
    """The miniFLUX DiT. Config keys are the published ones (some only matter for training)."""

    _supports_gradient_checkpointing = False
    _no_split_modules = ["DoubleStreamBlock", "SingleStreamBlock"]

    @register_to_config
    def __init__(
        self,
        patch_size: int = 1,
        in_channels: int = 64,
        num_layers: int = 19,
        num_single_layers: int = 38,
        attention_head_dim: int = 64,
        num_attention_heads: int = 24,
        joint_attention_dim: int = 4096,
        pooled_projection_dim: int = 768,
        axes_dims_rope: list[int] | tuple[int, ...] = (16, 24, 24),
        use_flash_attn: bool = False,
        use_temporal_causal: bool = True,
        interp_condition_pos: bool = True,
        use_gradient_checkpointing: bool = False,
        gradient_checkpointing_ratio: float = 0.6,
    ):
        super().__init__()
        if attention_head_dim != sum(ROPE_AXES):
            raise ValueError(
                f"attention_head_dim must be {sum(ROPE_AXES)} (the rotary axes {list(ROPE_AXES)}), "
                f"not {attention_head_dim}."
            )
        if in_channels % (PATCH * PATCH):
            raise ValueError(f"in_channels ({in_channels}) must be the latent channels times {PATCH * PATCH}.")
        dim = num_attention_heads * attention_head_dim
        self.latent_channels = in_channels // (PATCH * PATCH)
        self.time_text_embed = CombinedTimestepTextProjEmbeddings(
            embedding_dim=dim, pooled_projection_dim=pooled_projection_dim
        )
        self.context_embedder = nn.Linear(joint_attention_dim, dim)
        self.x_embedder = nn.Linear(in_channels, dim)
        self.transformer_blocks = nn.ModuleList(
            DoubleStreamBlock(dim, num_attention_heads, attention_head_dim) for _ in range(num_layers)
        )
        self.single_transformer_blocks = nn.ModuleList(
            SingleStreamBlock(dim, num_attention_heads, attention_head_dim) for _ in range(num_single_layers)
        )
        self.norm_out = AdaNormOut(dim)
        self.proj_out = nn.Linear(dim, patch_size * patch_size * in_channels)

    @staticmethod
    def _positions(clips, batch: int, device) -> torch.Tensor:
        """(time, height, width) positions of every clip's tokens; heights and widths stretched to the last
        (highest-resolution) clip's grid; time counts on from clip to clip."""
        grid_h, grid_w = clips[-1].shape[-2] // PATCH, clips[-1].shape[-1] // PATCH
        out, start = [], 0
        for clip in clips:
            frames, h, w = clip.shape[2], clip.shape[3] // PATCH, clip.shape[4] // PATCH
            ids = torch.zeros(frames, h, w, 3)
            ids[..., 0] += torch.arange(start, start + frames)[:, None, None]
            ids[..., 1] += _stretched(grid_h, h)[None, :, None]
            ids[..., 2] += _stretched(grid_w, w)[None, None, :]
            out.append(ids.reshape(1, -1, 3).repeat(batch, 1, 1))
            start += frames
        return torch.cat(out, dim=1).to(device)

    def forward(self, clips, encoder_hidden_states, encoder_attention_mask, pooled_projections, timestep):
        """``clips``: the clean past clips then the noisy clip, each (B, C, T, H, W), oldest first. Returns
        the predicted velocity for the last clip, (B, C, T, H, W)."""
        batch = clips[-1].shape[0]
        device = clips[-1].device
        temb = self.time_text_embed(timestep, pooled_projections)
        text = self.context_embedder(encoder_hidden_states)
        text_len = text.shape[1]

        positions = self._positions(clips, batch, device)
        table = _rotary_table(torch.cat([torch.zeros(batch, text_len, 3, device=device), positions], dim=1))

        tokens = [_patchify(clip) for clip in clips]
        image = self.x_embedder(torch.cat(tokens, dim=1))

        # Padded text tokens see only each other; the rest see valid text and every image token.
        text_ids = encoder_attention_mask.to(torch.long).clone()
        image_ids = torch.ones(batch, image.shape[1], dtype=torch.long, device=device)
        ids = torch.cat([text_ids, image_ids], dim=1)
        mask = ids[:, None, :, None] == ids[:, None, None, :]
        if self.config.use_temporal_causal:
            order = torch.cat([torch.zeros(batch, text_len, device=device), positions[..., 0]], dim=1)
            mask = mask & (order[:, None, :, None] >= order[:, None, None, :])

        for block in self.transformer_blocks:
            image, text = block(image, text, temb, table, mask)
        joint = torch.cat([text, image], dim=1)
        for block in self.single_transformer_blocks:
            joint = block(joint, temb, table, mask)
        image = joint[:, text_len:]
        out = self.proj_out(self.norm_out(image, temb))

        current = clips[-1]
        frames, h, w = current.shape[2], current.shape[3] // PATCH, current.shape[4] // PATCH
        out = out[:, -frames * h * w :].reshape(batch, frames, h, w, PATCH, PATCH, self.latent_channels)
        return out.permute(0, 6, 1, 2, 4, 3, 5).reshape(batch, self.latent_channels, frames, h * PATCH, w * PATCH)


def _stretched(full: int, size: int) -> torch.Tensor:
    if size == full:
        return torch.arange(full).float()
    return F.interpolate(torch.arange(full)[None, None, :].float(), size, mode="linear").squeeze(0).squeeze(0)


def _patchify(clip: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, T*H/2*W/2, 2*2*C), channels last within each patch."""
    b, c, t, h, w = clip.shape
    x = clip.permute(0, 2, 3, 4, 1).reshape(b, t, h // PATCH, PATCH, w // PATCH, PATCH, c)
    return x.permute(0, 1, 2, 4, 3, 5, 6).reshape(b, t * (h // PATCH) * (w // PATCH), PATCH * PATCH * c)
