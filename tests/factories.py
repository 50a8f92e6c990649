import dataclasses

import factory
from allauth.account.models import EmailAddress

from access.models import Grant, Programme, User
from generation.models import RenderJob
from generation.render_settings import RenderSettings

PASSWORD = "correct-horse-battery-staple"

# A small job every model rule and default grant allows: one second-long render of the smoke model.
SMALL_SETTINGS = RenderSettings(
    model_key="ltx-video", num_frames=9, width=128, height=128, num_steps=2, guidance_scale=3.0
)


def image_bytes(width: int = 96, height: int = 64, colour=(200, 40, 40), kind: str = "PNG") -> bytes:
    """A plain picture of one colour, encoded as ``kind``: what a person uploads to start a clip from."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format=kind)
    return buffer.getvalue()


def stored_image(owner, colour=(200, 40, 40), **size):
    """``owner``'s uploaded input image (generation.inputs.image_store), a plain picture."""
    from generation.inputs import image_store

    return image_store(owner=owner, data=image_bytes(colour=colour, **size))


def render_settings(**changes) -> dict:
    """The render settings of a small valid job (SMALL_SETTINGS), with ``changes``, as {field: value}."""
    return dataclasses.replace(SMALL_SETTINGS, **changes).as_fields()


def job_settings(prompt: str = "a wave", **changes) -> dict:
    """What a submission sends: a prompt and render_settings(**changes)."""
    return {"prompt": prompt, **render_settings(**changes)}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    display_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(user, create, extracted, **kwargs):
        if create:
            user.save()
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


class ProgrammeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Programme
        django_get_or_create = ["slug"]

    name = "Factory programme"
    slug = "factory-programme"


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Grant
        django_get_or_create = ["user", "programme"]

    user = factory.SubFactory(UserFactory)
    programme = factory.SubFactory(ProgrammeFactory)


class RenderJobFactory(factory.django.DjangoModelFactory):
    """A job row as a submission would leave it (for tests that start after submission)."""

    class Meta:
        model = RenderJob

    owner = factory.SubFactory(UserFactory)
    grant = factory.LazyAttribute(lambda job: GrantFactory(user=job.owner))
    prompt = "a slow pan over a neon city at night"
    model_key = SMALL_SETTINGS.model_key
    num_frames = SMALL_SETTINGS.num_frames
    width = SMALL_SETTINGS.width
    height = SMALL_SETTINGS.height
    num_steps = SMALL_SETTINGS.num_steps
    guidance_scale = SMALL_SETTINGS.guidance_scale
    seed = 42
    progress_total = factory.SelfAttribute("num_steps")
