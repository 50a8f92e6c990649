"""Every page, allauth's own included, is drawn in the site's layout with its tools served from local static files
(Pico CSS, the site's stylesheet, htmx; no CDN), issue 14 items 4 and 5. The width sweep
(tests/e2e/test_page_sweep.py) shows the same pages in a browser."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ANONYMOUS = ["account_login", "account_signup", "account_reset_password"]
SIGNED_IN = ["account_email", "mfa_index", "account_reauthenticate", "account_change_password", "generation:job_create"]
# Where a stylesheet or a script comes from: <link href> and <script src>.
ASSETS = re.compile(r'<(?:link[^>]*\bhref|script[^>]*\bsrc)="([^"]+)"')


def _layout_and_local_tools(page: str) -> None:
    assert 'class="site-header"' in page, "the site's own layout"
    assets = ASSETS.findall(page)
    assert "/static/vendor/pico/pico.indigo.min.css" in assets and "/static/backlot.css" in assets, assets
    assert any(asset.startswith("/static/django_htmx/htmx") for asset in assets), assets
    assert all(asset.startswith(("/static/", "data:")) for asset in assets), assets


@pytest.mark.parametrize("name", ANONYMOUS)
def test_allauth_s_pages_for_visitors_wear_the_site_s_layout_and_local_tools(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 200
    _layout_and_local_tools(response.content.decode())


@pytest.mark.parametrize("name", SIGNED_IN)
def test_signed_in_pages_wear_the_site_s_layout_and_local_tools(tester_client, name):
    response = tester_client.get(reverse(name))

    assert response.status_code == 200, (name, response.status_code, response.get("Location"))
    _layout_and_local_tools(response.content.decode())
