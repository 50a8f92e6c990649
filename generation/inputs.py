"""A creative mode's inputs: uploaded images, judged by their bytes, re-encoded without the uploader's
metadata and kept privately, and the clip a job extends, restyles or upscales. mode_inputs_check holds
every rule a mode's inputs must meet; it runs in jobs_submit's path before anything is reserved, so a
refused input charges nothing."""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from generation.extend import EXTEND_CONTEXT_FRAMES, clip_frames
from generation.models import InputImage, RenderJob
from generation.registry import EXTEND, IMAGE, LAST_IMAGE, SOURCE, STRENGTH, TEXT_TO_VIDEO, UPSCALE, ModelSpec

IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_MAX_SIDE = 4096
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


def image_judge(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an uploaded image read from its bytes, or ValidationError: only PNG, JPEG
    and WebP, at most IMAGE_MAX_BYTES and IMAGE_MAX_SIDE pixels a side. The size is read from the header
    before any pixel is decoded, so a small file claiming a huge image is refused without decoding it."""
    from PIL import Image

    if not data:
        raise ValidationError("The image is empty.")
    if len(data) > IMAGE_MAX_BYTES:
        raise ValidationError(f"Images are limited to {IMAGE_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in IMAGE_FORMATS:
                    raise ValidationError(f"Send a PNG, JPEG or WebP image; this file is {kind or 'unknown'}.")
                if max(width, height) > IMAGE_MAX_SIDE:
                    raise ValidationError(
                        f"Images are limited to {IMAGE_MAX_SIDE} pixels a side; this one is {width}x{height}."
                    )
                image.load()  # a truncated or corrupt file fails here, not on the worker
    except ValidationError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ValidationError(
            f"This file is not a readable PNG, JPEG or WebP image ({type(error).__name__})."
        ) from None
    return kind, width, height


# Re-encoding: PNG stays lossless; JPEG and WebP are saved again at a quality where the change is not seen.
REENCODE_QUALITY = 95


def image_reencode(data: bytes) -> tuple[bytes, str, int, int]:
    """``data`` judged (image_judge), decoded and saved again from its pixels alone, as (bytes, format,
    width, height): no EXIF (GPS position, camera, time), XMP, text chunks or comments of the uploader's
    survive. The EXIF orientation is applied to the pixels first and a colour profile converted to sRGB, so
    the image looks as it did. PNG stays PNG; JPEG and WebP are saved again as JPEG or WebP at quality 95."""
    from PIL import Image, ImageCms, ImageOps

    kind, _, _ = image_judge(data)
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        pixels = upright.convert("RGBA" if has_alpha and kind != "JPEG" else "RGB")
        profile = upright.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            pixels = ImageCms.profileToProfile(pixels, source, ImageCms.createProfile("sRGB"), outputMode=pixels.mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: keep the pixels as they are, without it
    # A new image from the pixels alone: nothing in the upload's info (EXIF, ICC, XMP, text) comes along.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    buffer = io.BytesIO()
    if kind == "PNG":
        clean.save(buffer, format="PNG", optimize=False)
    elif kind == "JPEG":
        clean.save(buffer, format="JPEG", quality=REENCODE_QUALITY, subsampling=0)
    else:
        clean.save(buffer, format="WEBP", quality=REENCODE_QUALITY)
    return buffer.getvalue(), kind, clean.width, clean.height


def image_store(*, owner, data: bytes) -> InputImage:
    """Judge ``data``, re-encode it without the uploader's metadata (image_reencode), and keep it for
    ``owner`` under a random name in the private media storage."""
    data, kind, width, height = image_reencode(data)
    image = InputImage(owner=owner, format=kind, width=width, height=height, bytes=len(data))
    image.sha256 = hashlib.sha256(data).hexdigest()
    name = f"inputs/{owner.pk}/{secrets.token_urlsafe(18)}.{IMAGE_FORMATS[kind]}"
    storage = InputImage.file.field.storage
    image.file.name = storage.save(name, ContentFile(data))
    try:
        image.save()
    except Exception:
        storage.delete(image.file.name)
        raise
    return image


def _own_image(owner, value, field: str, errors: dict) -> InputImage | None:
    if value is None or isinstance(value, InputImage):
        image = value
    else:
        image = InputImage.objects.filter(pk=value).first() if _is_uuid(value) else None
        if image is None:
            errors[field] = "No such uploaded image."
            return None
    if image is not None and image.owner_id != owner.pk:
        errors[field] = "No such uploaded image."  # others' uploads are not found, not refused
        return None
    return image


def _own_clip(owner, value, errors: dict) -> RenderJob | None:
    if value is None:
        return None
    job = value if isinstance(value, RenderJob) else None
    if job is None and _is_uuid(value):
        job = RenderJob.objects.filter(pk=value).first()
    if job is None or job.owner_id != owner.pk or job.deleted_at is not None:
        errors[SOURCE] = "No such clip among yours: a mode works on your own finished clips."
        return None
    if job.state != RenderJob.State.SUCCEEDED or not job.output:
        errors[SOURCE] = "That clip has not finished rendering."
        return None
    return job


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def mode_inputs_check(
    *,
    owner,
    spec: ModelSpec,
    mode: str,
    settings: dict,
    image=None,
    last_image=None,
    source=None,
    strength: float | None = None,
) -> dict:
    """The inputs of a ``mode`` job as model objects: {"image", "last_image", "source", "strength"}, or
    ValidationError naming each problem: a mode the model lacks, a missing or extra input, another's
    upload or clip, a source whose size or length the mode cannot keep."""
    errors: dict[str, str] = {}
    mode_spec = None
    if mode == TEXT_TO_VIDEO:
        wanted: tuple[str, ...] = ()
    elif (mode_spec := spec.mode_get(mode)) is None:
        offered = ", ".join(spec.mode_keys())
        raise ValidationError({"mode": f"{spec.label} does not offer {mode!r}. It offers: {offered}."})
    else:
        wanted = mode_spec.inputs
    given = {IMAGE: image, LAST_IMAGE: last_image, SOURCE: source, STRENGTH: strength}
    for name, value in given.items():
        if name in wanted and value is None:
            errors[name] = f"This mode needs {name.replace('_', ' ')}."
        elif name not in wanted and value is not None:
            errors[name] = f"The {mode} mode takes no {name.replace('_', ' ')}."
    if errors:
        raise ValidationError(errors)
    found = {
        IMAGE: _own_image(owner, image, IMAGE, errors),
        LAST_IMAGE: _own_image(owner, last_image, LAST_IMAGE, errors),
        SOURCE: _own_clip(owner, source, errors),
        STRENGTH: strength,
    }
    if strength is not None and not (0.05 <= strength <= 1.0):
        errors[STRENGTH] = "Strength must be from 0.05 (close to the source) to 1 (a new clip)."
    if mode_spec is not None and mode_spec.sizes and (settings["width"], settings["height"]) not in mode_spec.sizes:
        sizes = " or ".join(f"{width}x{height}" for width, height in mode_spec.sizes)
        errors["width"] = f"{spec.label}'s {mode_spec.label.lower()} renders {sizes} only."
    if mode_spec is not None and mode_spec.max_pixels and settings["width"] * settings["height"] > mode_spec.max_pixels:
        errors["width"] = (
            f"{spec.label}'s {mode_spec.label.lower()} renders at most {mode_spec.max_pixels:,} pixels a frame; "
            f"{settings['width']}x{settings['height']} is {settings['width'] * settings['height']:,}."
        )
    clip = found[SOURCE]
    if clip is not None and not errors:
        errors.update(_source_rules(spec, mode, clip, settings))
    if errors:
        raise ValidationError(errors)
    return found


def _source_rules(spec: ModelSpec, mode: str, clip: RenderJob, settings: dict) -> dict[str, str]:
    """A derived clip keeps its source's model and the size or length the mode cannot change."""
    if clip.model_key != spec.key:
        return {SOURCE: f"That clip was made with another model ({clip.model_key}); choose {clip.model_key} for it."}
    size = (clip.width, clip.height)
    if mode == UPSCALE:
        size = (clip.width * 2, clip.height * 2)
    errors = {}
    if (settings["width"], settings["height"]) != size:
        errors["width"] = f"This mode makes a {size[0]}x{size[1]} clip from that source; set width and height so."
    frames = clip_frames(clip)  # an extended clip is longer than the frames its job rendered
    if mode == EXTEND:
        if frames < EXTEND_CONTEXT_FRAMES:
            errors[SOURCE] = f"A clip needs at least {EXTEND_CONTEXT_FRAMES} frames to be extended."
        if settings["num_frames"] <= EXTEND_CONTEXT_FRAMES:
            errors["num_frames"] = (
                f"An extension starts from the source's last {EXTEND_CONTEXT_FRAMES} frames: ask for more than that."
            )
    elif settings["num_frames"] != frames:
        errors["num_frames"] = f"This mode keeps the source's {frames} frames."
    return errors
