"""One client address for every reader (core/client_address.py): a forwarded header counts only when
the direct peer is a trusted proxy, chains are read from the right past trusted proxies, and garbage is
never used. Then each reader, in process: leak detection, the audit trail, allauth's sign-in limits,
recorded sessions and new-network emails, token last use and API throttles."""

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.urls import reverse

from access.adapters import AccountAdapter
from access.api_auth import PersonRateThrottle
from access.models import AuditEvent, LeakAlert
from access.tokens import token_create
from core.client_address import ForwardedProtoMiddleware, client_ip, trusted_proxies_parse

NGINX = ["127.0.0.1", "::1"]
LOAD_BALANCERS = "10.0.0.0/8"
CDN = "173.245.48.0/20"


def resolve(settings, *, peer="127.0.0.1", xff=None, trusted=(), header=None, **meta):
    settings.BACKLOT_TRUSTED_PROXIES = list(trusted)
    if header:
        settings.BACKLOT_CLIENT_IP_HEADER = header
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=peer, **meta))


def test_with_no_trusted_proxies_the_header_is_ignored(settings):
    assert resolve(settings, peer="127.0.0.1", xff="203.0.113.7") == "127.0.0.1"


def test_a_local_proxy_left_untrusted_is_reported_once(settings, caplog, monkeypatch):
    monkeypatch.setattr("core.client_address._warned_untrusted_proxy", False)
    for _ in range(3):
        assert resolve(settings, peer="127.0.0.1", xff="203.0.113.7") == "127.0.0.1"
    assert resolve(settings, peer="198.51.100.4", xff="203.0.113.7") == "198.51.100.4"  # not a local proxy

    warnings = [record.getMessage() for record in caplog.records if "untrusted_proxy" in record.getMessage()]
    assert len(warnings) == 1 and "BACKLOT_TRUSTED_PROXIES" in warnings[0]


def test_a_header_from_an_untrusted_peer_is_ignored(settings):
    assert resolve(settings, peer="198.51.100.4", xff="203.0.113.7", trusted=NGINX) == "198.51.100.4"


def test_behind_nginx_the_address_nginx_appended_is_the_client(settings):
    assert resolve(settings, xff="203.0.113.7", trusted=NGINX) == "203.0.113.7"
    # What the client wrote itself sits to the left of what nginx appended, and is never read.
    assert resolve(settings, xff="1.1.1.1, 8.8.8.8, 203.0.113.7", trusted=NGINX) == "203.0.113.7"


def test_behind_a_cdn_and_a_load_balancer_trusted_hops_are_skipped_from_the_right(settings):
    chain = "6.6.6.6, 198.51.100.9, 173.245.48.5, 10.0.3.2"
    assert resolve(settings, xff=chain, trusted=[*NGINX, LOAD_BALANCERS, CDN]) == "198.51.100.9"
    # Without the CDN's networks, the CDN's edge is as far as the chain can be believed.
    assert resolve(settings, xff=chain, trusted=[*NGINX, LOAD_BALANCERS]) == "173.245.48.5"
    # Traffic that skips the CDN and reaches the load balancer directly is read the same way.
    assert resolve(settings, xff="198.51.100.9, 10.0.3.2", trusted=[*NGINX, LOAD_BALANCERS, CDN]) == "198.51.100.9"


def test_a_trusted_peer_with_no_header_or_only_trusted_hops(settings):
    assert resolve(settings, trusted=NGINX) == "127.0.0.1"
    assert resolve(settings, xff="10.0.0.7", trusted=[*NGINX, LOAD_BALANCERS]) == "10.0.0.7"


def test_ipv6_peers_clients_and_networks(settings):
    assert resolve(settings, peer="::1", xff="2001:db8::5", trusted=NGINX) == "2001:db8::5"
    assert resolve(settings, peer="::1", xff="[2001:db8::5]:443", trusted=NGINX) == "2001:db8::5"
    assert resolve(settings, peer="::1", xff="2001:DB8:0:0::5", trusted=NGINX) == "2001:db8::5"
    assert resolve(settings, peer="::1", xff="fe80::1%eth0", trusted=NGINX) == "fe80::1"
    chain = "2001:db8:1::7, 2001:db8:ffff::2"
    assert resolve(settings, peer="::1", xff=chain, trusted=[*NGINX, "2001:db8:ffff::/48"]) == "2001:db8:1::7"
    # An IPv4 peer written as IPv4-mapped IPv6 (a dual-stack listener) matches its IPv4 entry.
    assert resolve(settings, peer="::ffff:127.0.0.1", xff="203.0.113.7", trusted=NGINX) == "203.0.113.7"
    assert resolve(settings, peer="::ffff:203.0.113.9", xff="8.8.8.8", trusted=NGINX) == "203.0.113.9"


GARBAGE = [
    "",
    " ",
    ",",
    " , , ",
    "not-an-ip",
    "unknown",
    "_hidden",
    "999.1.1.1",
    "1.2.3.4.5",
    "1.2.3.4:99999",
    "203.0.113.7\x00",
    "<script>alert(1)</script>",
    "[2001:db8::5",
    "::",
    "9" * 5000,
    "203.0.113.7; DROP TABLE",
    "for=",
    "é.é.é.é",
    "1.2.3.4/24",
    "0.0.0.0",  # noqa: S104 (a header value, not a bind address)
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_in_the_header_is_never_used_and_never_fails(settings, garbage):
    # Nginx appends the real peer: garbage the client sent is left of it and never reached.
    assert resolve(settings, xff=f"{garbage}, 203.0.113.7", trusted=NGINX) == "203.0.113.7"
    # Garbage where a trusted proxy should have written an address: nothing left of it is believed.
    assert resolve(settings, xff=garbage, trusted=NGINX) == "127.0.0.1"
    assert resolve(settings, xff=f"198.51.100.2, {garbage}, 10.0.0.9", trusted=[*NGINX, LOAD_BALANCERS]) in {
        "10.0.0.9",
        "198.51.100.2",  # only for garbage that is blank, which a list of hops skips
    }


def test_a_peer_that_is_no_address_gives_none(settings):
    assert resolve(settings, peer="", xff="203.0.113.7", trusted=NGINX) is None
    assert resolve(settings, peer="garbage", trusted=NGINX) is None
    # gunicorn on a Unix socket behind nginx: a peer with no address, trusted only when "unix" is listed.
    assert resolve(settings, peer="", xff="203.0.113.7", trusted=["unix"]) == "203.0.113.7"


def test_another_header_can_be_named(settings):
    assert (
        resolve(
            settings, trusted=NGINX, header="X-Real-IP", HTTP_X_REAL_IP="203.0.113.7", HTTP_X_FORWARDED_FOR="8.8.8.8"
        )
        == "203.0.113.7"
    )
    assert resolve(settings, trusted=NGINX, header="CF-Connecting-IP", HTTP_CF_CONNECTING_IP="2001:db8::9") == (
        "2001:db8::9"
    )
    forwarded = 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'
    assert resolve(settings, trusted=NGINX, header="Forwarded", HTTP_FORWARDED=forwarded) == "2001:db8::1"
    # The header named is the only one read: the default one is then ignored.
    assert resolve(settings, trusted=NGINX, header="X-Real-IP", HTTP_X_FORWARDED_FOR="8.8.8.8") == "127.0.0.1"


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "nginx", "*", "127.0.0.1-127.0.0.9", "300.1.1.1"])
def test_a_bad_trusted_proxy_entry_is_refused_by_name(entry):
    with pytest.raises(ImproperlyConfigured, match="BACKLOT_TRUSTED_PROXIES"):
        trusted_proxies_parse(["127.0.0.1", entry])


def test_trusted_proxy_entries_may_be_addresses_networks_or_unix():
    networks, unix = trusted_proxies_parse(["127.0.0.1", "10.1.2.3/8", "2001:db8::/32", "UNIX"])
    assert [str(n) for n in networks] == ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"] and unix


# --- every reader, in process: Django's test client is the peer 127.0.0.1, "nginx" -----------------------


@pytest.fixture
def behind_nginx(settings):
    settings.BACKLOT_TRUSTED_PROXIES = NGINX
    settings.LEAK_MAX_NETWORKS = 3


def test_allauth_and_drf_ask_the_same_resolver(behind_nginx):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert AccountAdapter(request).get_client_ip(request) == "203.0.113.7"
    assert PersonRateThrottle().get_ident(request) == "203.0.113.7"


def test_behind_a_proxy_a_token_used_from_four_networks_is_suspended(behind_nginx, tester):
    record, token = token_create(user=tester, name="script", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    statuses = [client.get("/api/v1/jobs/", HTTP_X_FORWARDED_FOR=f"203.0.{n}.7").status_code for n in (1, 2, 3, 4)]

    assert statuses == [200, 200, 200, 401]
    record.refresh_from_db()
    assert record.state == "suspended" and record.last_used_ip == "203.0.3.7"
    assert LeakAlert.objects.get(token=record).details["networks"] == 4


def test_without_trusted_proxies_a_spoofed_header_changes_no_network(settings, tester):
    settings.LEAK_MAX_NETWORKS = 3
    record, token = token_create(user=tester, name="script", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    statuses = [client.get("/api/v1/jobs/", HTTP_X_FORWARDED_FOR=f"203.0.{n}.7").status_code for n in range(1, 6)]

    assert statuses == [200] * 5
    record.refresh_from_db()
    assert record.state == "active" and record.last_used_ip == "127.0.0.1"


def _sign_in(email, password, address):
    return Client().post(reverse("account_login"), {"login": email, "password": password}, HTTP_X_FORWARDED_FOR=address)


def test_behind_a_proxy_failed_sign_ins_from_ten_clients_lock_out_nobody_else(behind_nginx, tester, password):
    failures = [_sign_in(f"guess{n}@example.org", "wrong-password", f"198.51.100.{n}").status_code for n in range(10)]
    own = _sign_in(tester.email, password, "203.0.113.50")

    assert failures == [200] * 10 and own.status_code == 302
    # The limit still holds for one client that keeps failing, whatever it writes in the header itself
    # (nginx appends the address it saw after the client's own).
    spoofing = [_sign_in(f"other{n}@example.org", "wrong", f"203.0.113.{n}, 198.51.100.99") for n in range(11)]
    assert [response.status_code for response in spoofing] == [200] * 10 + [429]


def test_behind_a_proxy_sign_ins_record_the_client_and_a_new_network_is_emailed(behind_nginx, tester, password):
    assert _sign_in(tester.email, password, "203.0.113.50").status_code == 302
    mail.outbox.clear()
    assert _sign_in(tester.email, password, "198.51.100.23").status_code == 302

    events = AuditEvent.objects.filter(action="access.signed_in", subject=tester).order_by("at")
    assert [event.ip for event in events] == ["203.0.113.50", "198.51.100.23"]
    assert [message.to for message in mail.outbox] == [[tester.email]]
    assert "198.51.100.23" in mail.outbox[0].subject
    assert sorted(UserSession.objects.filter(user=tester).values_list("ip", flat=True)) == [
        "198.51.100.23",
        "203.0.113.50",
    ]


def test_a_session_s_record_is_written_once_a_minute_and_at_once_from_a_new_address(behind_nginx, tester):
    client = Client()
    client.force_login(tester)
    client.get("/clips/", HTTP_X_FORWARDED_FOR="203.0.113.50")
    record = UserSession.objects.get(user=tester)
    assert record.ip == "203.0.113.50"
    seen = record.last_seen_at

    client.get("/clips/", HTTP_X_FORWARDED_FOR="203.0.113.50")
    record.refresh_from_db()
    assert record.last_seen_at == seen, "a second request within the minute writes nothing"

    client.get("/clips/", HTTP_X_FORWARDED_FOR="198.51.100.23")
    record.refresh_from_db()
    assert record.ip == "198.51.100.23" and record.last_seen_at > seen
    client.get("/clips/", HTTP_X_FORWARDED_FOR="203.0.113.50")  # and back: written again
    record.refresh_from_db()
    assert record.ip == "203.0.113.50"
    assert UserSession.objects.filter(user=tester).count() == 1


def test_behind_a_proxy_sign_in_attempts_are_limited_per_client_not_for_the_whole_site(
    behind_nginx, settings, tester, password
):
    # Measured before: BACKLOT_RATE_SIGN_IN (30/m/ip) capped the whole site. Here 3 a minute, to stay quick.
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    assert [_sign_in(tester.email, password, f"198.51.{n}.1").status_code for n in range(4)] == [302] * 4
    assert [_sign_in(tester.email, password, "203.0.113.77").status_code for _ in range(4)] == [302] * 3 + [429]


@pytest.mark.parametrize(
    ("trusted", "peer", "secure"),
    [
        ((), "127.0.0.1", True),  # nginx on this host, no list: believed, as gunicorn believes it by default
        ((), "::1", True),
        ((), "203.0.113.7", False),  # a client straight at gunicorn claiming HTTPS
        (NGINX, "203.0.113.7", False),
        ((LOAD_BALANCERS,), "10.1.2.3", True),
        ((LOAD_BALANCERS,), "127.0.0.1", False),  # a list names exactly who is believed
    ],
)
def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(settings, trusted, peer, secure):
    settings.BACKLOT_TRUSTED_PROXIES = list(trusted)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_PROTO="https")

    seen = ForwardedProtoMiddleware(lambda request: request.is_secure())(request)

    assert seen is secure


def test_a_spoofed_https_claim_straight_at_the_app_is_still_redirected(settings, client):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True

    spoofed = client.get("/accounts/login/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_PROTO="https")
    proxied = client.get("/accounts/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")

    assert spoofed.status_code == 301 and spoofed["Location"].startswith("https://")
    assert proxied.status_code == 200
