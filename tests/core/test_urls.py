import uuid

import pytest
from django.urls import reverse

from core.urls import reverse_one


@pytest.mark.parametrize(
    ("viewname", "value"),
    [
        ("generation:job_detail", uuid.uuid4()),
        ("generation:job_card", uuid.UUID(int=0)),
        ("generation:favourite_set", uuid.uuid4()),
        ("generation:media", "eyJqIjoiYWJjIn0:1vQ2:x-y_z"),
        ("generation:media", "a token with spaces?&#and é"),
    ],
)
def test_reverse_one_gives_what_reverse_gives(viewname, value):
    assert reverse_one(viewname, value) == reverse(viewname, args=[value])
    assert reverse_one(viewname, value) == reverse(viewname, args=[value])  # and again, from what it keeps


def test_reverse_one_follows_the_script_prefix():
    from django.urls import set_script_prefix

    job = uuid.uuid4()
    set_script_prefix("/backlot/")
    try:
        assert reverse_one("generation:job_detail", job) == f"/backlot/clips/{job}/"
    finally:
        set_script_prefix("/")
    assert reverse_one("generation:job_detail", job) == f"/clips/{job}/"
