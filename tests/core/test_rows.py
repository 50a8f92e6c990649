"""core.rows: one UPDATE of a row another request may have deleted meanwhile."""

import pytest
from django.http import Http404

from core.rows import row_update_or_404
from generation.models import Collection


def test_it_writes_the_row_and_the_instance(tester):
    collection = Collection.objects.create(owner=tester, name="Storms")
    row_update_or_404(collection, gone="gone", name="Squalls")
    assert collection.name == "Squalls"
    assert Collection.objects.get(pk=collection.pk).name == "Squalls"


def test_a_row_that_is_gone_is_not_found_and_the_instance_is_left_alone(tester):
    collection = Collection.objects.create(owner=tester, name="Storms")
    Collection.objects.filter(pk=collection.pk).delete()
    with pytest.raises(Http404, match="That collection no longer exists."):
        row_update_or_404(collection, gone="That collection no longer exists.", name="Squalls")
    assert collection.name == "Storms"
