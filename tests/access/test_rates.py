from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from access.models import AuditEvent, ContributionRate
from access.rates import rate_for, rate_publish, rates_current

pytestmark = pytest.mark.django_db


def test_published_rates_are_readable_by_every_member(client, tester, outsider, programme, admin_user):
    rate_publish(
        programme=programme, kind="bug", severity="high", points=50, amount="40", currency="USD", actor=admin_user
    )
    client.force_login(tester)
    page = client.get("/programmes/alpha/rates/").content.decode()
    assert "Confirmed bug report" in page and "40.00 USD" in page and "50" in page
    client.force_login(outsider)
    assert client.get("/programmes/alpha/rates/").status_code == 404
    assert AuditEvent.objects.filter(action="access.rate_published", actor=admin_user).exists()


def test_a_new_rate_applies_from_its_date_and_never_retroactively(programme, admin_user):
    old = rate_publish(programme=programme, kind="feedback", points=1, amount="2", currency="EUR")
    later = timezone.now() + timedelta(days=7)
    rate_publish(programme=programme, kind="feedback", points=2, amount="3", currency="EUR", effective_from=later)

    assert rate_for(programme, kind="feedback") == old
    assert rate_for(programme, kind="feedback", at=later + timedelta(seconds=1)).amount == Decimal("3.00")
    assert [rate.points for rate in rates_current(programme)] == [1]


def test_a_severity_without_its_own_rate_uses_the_general_rate(programme):
    general = rate_publish(programme=programme, kind="finding", points=10, amount="10", currency="USD")
    critical = rate_publish(
        programme=programme, kind="finding", severity="critical", points=100, amount="500", currency="USD"
    )
    assert rate_for(programme, kind="finding", severity="critical") == critical
    assert rate_for(programme, kind="finding", severity="low") == general


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "gossip"}, "kind"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"currency": "dollars"}, "currency"),
        ({"points": -5}, "points"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"effective_from": timezone.now() - timedelta(days=1)}, "effective_from"),
    ],
)
def test_bad_rates_are_refused_and_change_nothing(programme, change, field):
    arguments = {"programme": programme, "kind": "bug", "points": 5, "amount": "5", "currency": "USD", **change}
    with pytest.raises(ValidationError) as error:
        rate_publish(**arguments)
    assert field in error.value.message_dict
    assert not ContributionRate.objects.exists()
