"""Pyramid Flow's causal video VAE (the ``causal_video_vae`` folder), written for Backlot.

Facts taken from the reference implementation (``video_vae/`` in jy0205/Pyramid-Flow), which this module
follows in config keys and weight names so that the published weights load unchanged:

- A MAGVIT-v2-like 3D convolutional VAE: 8x in space and 8x in time (frames 8k+1 -> latent frames k+1),
  16 latent channels. Every 3D convolution is causal in time: it pads only the past, with zeros.
- Spatial downsampling is a stride-2 convolution; upsampling is a convolution to 4x (space) or 2x (time)
  the channels followed by depth-to-space; the first frame's temporal duplicate is dropped.
- Group norms normalise each frame on its own. The middle blocks have one single-head spatial attention
  (diffusers' ``Attention`` with the old VAE attention weight names: group_norm, to_q/k/v, to_out.0).
- Long clips are decoded a few latent frames at a time ("temporal chunks"): each causal convolution keeps
  the last two (padded) input frames of the previous chunk as its past. ``enable_tiling`` also decodes
  in overlapping spatial tiles blended linearly, as the reference does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils.accelerate_utils import apply_forward_hook
from diffusers.utils.torch_utils import randn_tensor
from torch import nn


class FrameGroupNorm(nn.GroupNorm):
    """A group norm applied to each frame separately."""

    def forward(self, x):
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class CausalConv3d(nn.Module):
    """A 3D convolution padded with zeros on the past side in time, symmetrically in space. In chunked
    decoding it carries the last two padded frames of one chunk into the next."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, bias=True):
        super().__init__()
        kernel = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        stride = (stride, 1, 1) if isinstance(stride, int) else tuple(stride)
        kt, kh, kw = kernel
        self.time_kernel, self.time_stride = kt, stride[0]
        self.causal_pad = (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0)
        self.space_pad = (kw // 2, kw // 2, kh // 2, kh // 2, 0, 0)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, bias=bias)
        self._past: torch.Tensor | None = None

    def forward(self, x, first: bool = True, chunked: bool = False):
        if not chunked:
            return self.conv(F.pad(x, self.causal_pad))
        if first:
            x = F.pad(x, self.causal_pad)
        else:
            x = F.pad(x, self.space_pad)
            past, self._past = self._past, None
            if self.time_kernel == 3:
                x = torch.cat([past if self.time_stride == 1 else past[:, :, -1:], x], dim=2)
        self._past = x[:, :, -2:].clone()
        return self.conv(x)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels, out_channels, groups, eps=1e-6):
        super().__init__()
        self.norm1 = FrameGroupNorm(groups, in_channels, eps=eps)
        self.conv1 = CausalConv3d(in_channels, out_channels)
        self.norm2 = FrameGroupNorm(groups, out_channels, eps=eps)
        self.conv2 = CausalConv3d(out_channels, out_channels)
        self.conv_shortcut = CausalConv3d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x, first, chunked):
        h = self.conv1(F.silu(self.norm1(x)), first, chunked)
        h = self.conv2(F.silu(self.norm2(h)), first, chunked)
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x, first, chunked)
        return x + h


class ConvWrap(nn.Module):
    """A causal convolution held as ``.conv`` (the weight names: ``downsamplers.0.conv.conv``)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv = CausalConv3d(in_channels, out_channels, 3, stride=stride)

    def forward(self, x, first, chunked):
        return self.conv(x, first, chunked)


class SpaceUpsample(ConvWrap):
    def __init__(self, channels):
        super().__init__(channels, channels * 4, 1)

    def forward(self, x, first, chunked):
        x = self.conv(x, first, chunked)
        b, c4, t, h, w = x.shape
        x = x.reshape(b, c4 // 4, 2, 2, t, h, w).permute(0, 1, 4, 5, 2, 6, 3)
        return x.reshape(b, c4 // 4, t, h * 2, w * 2)


class TimeUpsample(ConvWrap):
    def __init__(self, channels):
        super().__init__(channels, channels * 2, 1)

    def forward(self, x, first, chunked):
        x = self.conv(x, first, chunked)
        b, c2, t, h, w = x.shape
        x = x.reshape(b, c2 // 2, 2, t, h, w).permute(0, 1, 3, 2, 4, 5).reshape(b, c2 // 2, t * 2, h, w)
        return x[:, :, 1:] if first else x


class Stage(nn.Module):
    """A down (encoder) or up (decoder) block: resnets, then optional space and time resampling."""

    def __init__(self, in_channels, out_channels, layers, groups, *, space, time, up):
        super().__init__()
        self.resnets = nn.ModuleList(
            ResnetBlock(in_channels if i == 0 else out_channels, out_channels, groups) for i in range(layers)
        )
        if up:
            self.upsamplers = nn.ModuleList([SpaceUpsample(out_channels)]) if space else None
            self.temporal_upsamplers = nn.ModuleList([TimeUpsample(out_channels)]) if time else None
        else:
            self.downsamplers = self.temporal_downsamplers = None
            if space:
                self.downsamplers = nn.ModuleList([ConvWrap(out_channels, out_channels, (1, 2, 2))])
            if time:
                self.temporal_downsamplers = nn.ModuleList([ConvWrap(out_channels, out_channels, (2, 1, 1))])
        self.up = up

    def forward(self, x, first, chunked):
        for resnet in self.resnets:
            x = resnet(x, first, chunked)
        names = ("upsamplers", "temporal_upsamplers") if self.up else ("downsamplers", "temporal_downsamplers")
        for name in names:
            for layer in getattr(self, name) or ():
                x = layer(x, first, chunked)
        return x


class MidBlock(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, groups), ResnetBlock(channels, channels, groups)])
        self.attentions = nn.ModuleList(
            [
                Attention(
                    channels,
                    heads=1,
                    dim_head=channels,
                    eps=1e-6,
                    norm_num_groups=groups,
                    residual_connection=True,
                    bias=True,
                    upcast_softmax=True,
                    _from_deprecated_attn_block=True,
                )
            ]
        )

    def forward(self, x, first, chunked):
        x = self.resnets[0](x, first, chunked)
        b, c, t, h, w = x.shape
        y = self.attentions[0](x.transpose(1, 2).reshape(b * t, c, h, w))
        x = y.reshape(b, t, c, h, w).transpose(1, 2)
        return self.resnets[1](x, first, chunked)


class Encoder(nn.Module):
    def __init__(self, in_channels, latent_channels, channels, layers, space, time, groups):
        super().__init__()
        self.conv_in = CausalConv3d(in_channels, channels[0])
        self.down_blocks = nn.ModuleList(
            Stage(channels[max(i - 1, 0)], channels[i], layers[i], groups, space=space[i], time=time[i], up=False)
            for i in range(len(channels))
        )
        self.mid_block = MidBlock(channels[-1], groups)
        self.conv_norm_out = FrameGroupNorm(groups, channels[-1], eps=1e-6)
        self.conv_out = CausalConv3d(channels[-1], 2 * latent_channels)

    def forward(self, x, first=True, chunked=False):
        x = self.conv_in(x, first, chunked)
        for block in self.down_blocks:
            x = block(x, first, chunked)
        x = self.mid_block(x, first, chunked)
        return self.conv_out(F.silu(self.conv_norm_out(x)), first, chunked)


class Decoder(nn.Module):
    def __init__(self, latent_channels, out_channels, channels, layers, space, time, groups):
        super().__init__()
        rev = list(reversed(channels))
        self.conv_in = CausalConv3d(latent_channels, rev[0])
        self.mid_block = MidBlock(rev[0], groups)
        self.up_blocks = nn.ModuleList(
            Stage(rev[max(i - 1, 0)], rev[i], layers[i], groups, space=space[i], time=time[i], up=True)
            for i in range(len(rev))
        )
        self.conv_norm_out = FrameGroupNorm(groups, channels[0], eps=1e-6)
        self.conv_out = CausalConv3d(channels[0], out_channels)

    def forward(self, z, first=True, chunked=False):
        x = self.conv_in(z, first, chunked)
        x = self.mid_block(x, first, chunked)
        x = x.to(next(iter(self.up_blocks.parameters())).dtype)
        for block in self.up_blocks:
            x = block(x, first, chunked)
        return self.conv_out(F.silu(self.conv_norm_out(x)), first, chunked)


class PyramidFlowVAE(ModelMixin, ConfigMixin):
    """The causal video VAE; ``config.json`` keys are the published ones."""

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        encoder_in_channels: int = 3,
        encoder_out_channels: int = 16,
        encoder_layers_per_block: tuple = (2, 2, 2, 2),
        encoder_down_block_types: tuple = ("DownEncoderBlockCausal3D",) * 4,
        encoder_block_out_channels: tuple = (128, 256, 512, 512),
        encoder_spatial_down_sample: tuple = (True, True, True, False),
        encoder_temporal_down_sample: tuple = (True, True, True, False),
        encoder_block_dropout: tuple = (0.0, 0.0, 0.0, 0.0),
        encoder_act_fn: str = "silu",
        encoder_norm_num_groups: int = 32,
        encoder_double_z: bool = True,
        encoder_type: str = "causal_vae_conv",
        decoder_in_channels: int = 16,
        decoder_out_channels: int = 3,
        decoder_layers_per_block: tuple = (3, 3, 3, 3),
        decoder_up_block_types: tuple = ("UpDecoderBlockCausal3D",) * 4,
        decoder_block_out_channels: tuple = (128, 256, 512, 512),
        decoder_spatial_up_sample: tuple = (True, True, True, False),
        decoder_temporal_up_sample: tuple = (True, True, True, False),
        decoder_block_dropout: tuple = (0.0, 0.0, 0.0, 0.0),
        decoder_act_fn: str = "silu",
        decoder_norm_num_groups: int = 32,
        decoder_type: str = "causal_vae_conv",
        sample_size: int = 256,
        scaling_factor: float = 0.18215,
        add_post_quant_conv: bool = True,
        interpolate: bool = False,
        downsample_scale: int = 8,
    ):
        super().__init__()
        for name in ("encoder_down_block_types", "decoder_up_block_types"):
            kinds = set(locals()[name])
            if kinds - {"DownEncoderBlockCausal3D", "UpDecoderBlockCausal3D"}:
                raise ValueError(f"{name}: only the causal 3D blocks are supported, not {sorted(kinds)}.")
        if encoder_act_fn != "silu" or decoder_act_fn != "silu":
            raise ValueError("Only the silu activation is supported.")
        self.encoder = Encoder(
            encoder_in_channels,
            encoder_out_channels,
            list(encoder_block_out_channels),
            list(encoder_layers_per_block),
            list(encoder_spatial_down_sample),
            list(encoder_temporal_down_sample),
            encoder_norm_num_groups,
        )
        self.decoder = Decoder(
            decoder_in_channels,
            decoder_out_channels,
            list(decoder_block_out_channels),
            list(decoder_layers_per_block),
            list(decoder_spatial_up_sample),
            list(decoder_temporal_up_sample),
            decoder_norm_num_groups,
        )
        self.quant_conv = CausalConv3d(2 * encoder_out_channels, 2 * encoder_out_channels, 1)
        self.post_quant_conv = CausalConv3d(encoder_out_channels, encoder_out_channels, 1)
        self.use_tiling = False
        self.space_scale = 2 ** sum(bool(flag) for flag in encoder_spatial_down_sample)

    def enable_tiling(self, use_tiling: bool = True):
        self.use_tiling = use_tiling

    def disable_tiling(self):
        self.use_tiling = False

    # Encoding ---------------------------------------------------------------------------------------------

    def _moments(self, x):
        return self.quant_conv(self.encoder(x), True, False)

    @apply_forward_hook
    def encode_moments(self, x: torch.Tensor, tile: int = 256) -> torch.Tensor:
        """Pixels (B, 3, T, H, W) in [-1, 1] -> mean and log-variance stacked on the channel axis."""
        if self.use_tiling and (x.shape[-1] > tile or x.shape[-2] > tile):
            return self._tiled(x, self._moments, tile, tile // self.downsample_scale)
        return self._moments(x)

    def encode_sample(self, x: torch.Tensor, generator=None, tile: int = 256) -> torch.Tensor:
        """A sample of the latent distribution: mean + std * noise (noise from ``generator``)."""
        moments = self.encode_moments(x, tile=tile)
        mean, logvar = moments.chunk(2, dim=1)
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        return mean + std * randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)

    # Decoding ---------------------------------------------------------------------------------------------

    def _decode_chunks(self, z: torch.Tensor, window: int) -> torch.Tensor:
        """Decode the first window+1 latent frames, then ``window`` at a time, carrying each causal
        convolution's past from chunk to chunk."""
        chunks = [z[:, :, : window + 1]]
        chunks += [z[:, :, start : start + window] for start in range(window + 1, z.shape[2], window)]
        out = []
        for index, chunk in enumerate(chunks):
            first = index == 0
            out.append(self.decoder(self.post_quant_conv(chunk, first, True), first, True))
        return torch.cat(out, dim=2)

    @apply_forward_hook
    def decode(self, z: torch.Tensor, window: int = 1, tile: int = 256) -> torch.Tensor:
        """Latents (B, 16, T, h, w) -> pixels (B, 3, 8(T-1)+1, 8h, 8w) in about [-1, 1]."""
        latent_tile = tile // self.downsample_scale
        if self.use_tiling and (z.shape[-1] > latent_tile or z.shape[-2] > latent_tile):
            return self._tiled(z, lambda part: self._decode_chunks(part, window), latent_tile, tile)
        return self._decode_chunks(z, window)

    @property
    def downsample_scale(self) -> int:
        return self.config.downsample_scale

    @staticmethod
    def _tiled(x, run, tile_in: int, tile_out: int):
        """Run ``run`` on overlapping tiles of ``x`` (a quarter of overlap) and blend the seams linearly,
        as the reference does: tiles of ``tile_in`` in, ``tile_out`` out."""
        step = int(tile_in * 0.75)
        blend = int(tile_out * 0.25)
        limit = tile_out - blend
        rows = [
            [run(x[:, :, :, i : i + tile_in, j : j + tile_in]) for j in range(0, x.shape[4], step)]
            for i in range(0, x.shape[3], step)
        ]
        result = []
        for i, row in enumerate(rows):
            parts = []
            for j, part in enumerate(row):
                if i > 0:
                    part = _blend(rows[i - 1][j], part, blend, axis=3)
                if j > 0:
                    part = _blend(row[j - 1], part, blend, axis=4)
                parts.append(part[:, :, :, :limit, :limit])
            result.append(torch.cat(parts, dim=4))
        return torch.cat(result, dim=3)


def _blend(a: torch.Tensor, b: torch.Tensor, extent: int, *, axis: int) -> torch.Tensor:
    """Fade ``b``'s leading edge along ``axis`` in from ``a``'s trailing edge (in place, like the reference)."""
    extent = min(a.shape[axis], b.shape[axis], extent)
    for k in range(extent):
        src = a.select(axis, a.shape[axis] - extent + k)
        dst = b.select(axis, k)
        dst.copy_(src * (1 - k / extent) + dst * (k / extent))
    return b
