"""The client's address as deployed (issue 11, item 1): the handbook's nginx, from a configuration generated
from platform/nginx/backlot.conf, in front of gunicorn (platform/gunicorn.conf.py) with production settings
(DEBUG=0) and BACKLOT_TRUSTED_PROXIES=127.0.0.1,::1 as the environment template sets it. Each client binds
its socket to its own loopback address (127.0.N.1: a network of its own), so one machine plays many.

Through nginx: a token used from four networks is suspended, ten failed sign-ins from ten clients lock
out nobody else, a sign-in from a new network is emailed, and the audit records each client's address.
Straight at gunicorn, from a peer that is not a trusted proxy, forged X-Forwarded-Proto and X-Forwarded-For
change nothing: the client is sent to HTTPS and its token is never read."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from allauth.usersessions.models import UserSession

from access.models import AuditEvent, CredentialSighting, LeakAlert
from access.tokens import token_create
from generation.media import media_url
from generation.models import InputImage, RenderJob
from tests.e2e.conftest import ROOT, _database_url
from tests.e2e.servers import free_port
from tests.factories import RenderJobFactory, image_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
HOST = "backlot.example.org"
PASSWORD = "a-long-enough-passphrase"  # noqa: S105 (a test account's)
METRICS_TOKEN = secrets.token_urlsafe(24)
PBKDF2 = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # what gunicorn's production settings verify


def nginx_site(source: str, *, listen: int, upstream: int, static: Path) -> str:
    """The handbook's server configuration with only its deployment details swapped: plain HTTP on a free
    loopback port instead of TLS on 443, the test's gunicorn as the upstream, the test's static folder.
    Every proxy header line is kept as written. A swap that no longer matches fails loudly, so a change
    to the handbook's file is never silently left untested."""
    swaps = [
        (r"server \{\s*listen 80;.*?\n\}\n", ""),  # the redirect to HTTPS
        (r"listen 443 ssl;", f"listen 127.0.0.1:{listen};"),
        (r"\n[ \t]*http2 on;[^\n]*", ""),
        (r"\n[ \t]*ssl_certificate [^\n]*", ""),
        (r"\n[ \t]*ssl_certificate_key [^\n]*", ""),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};"),
        (r"alias /srv/backlot/var/static/;", f"alias {static}/;"),
        # TLS ends at this nginx in production; here it speaks plain HTTP and tells the app what the real one would.
        (r"X-Forwarded-Proto \$scheme;", "X-Forwarded-Proto https;"),
    ]
    for pattern, replacement in swaps:
        source, count = re.subn(pattern, replacement, source, flags=re.DOTALL)
        assert count == 1, f"platform/nginx/backlot.conf no longer matches {pattern!r}: update nginx_site()"
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in source
    return source


def nginx_conf(site: str, folder: Path) -> str:
    """A whole nginx configuration of our own: in the foreground, every file it writes inside ``folder``."""
    return f"""
daemon off;
user {pwd.getpwuid(os.geteuid()).pw_name};
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
"""


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(f"GET /healthz HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        return sock.recv(12).startswith(b"HTTP/1.")
    return False


def _start(command: list[str], *, env: dict, log: Path, port: int, what: str) -> subprocess.Popen:
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"{what} did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    nginx: int
    gunicorn: int
    mail: Path
    media: Path
    secret_key: str
    started_s: dict = field(default_factory=dict)

    def emails(self) -> list[str]:
        return [path.read_text() for path in sorted(self.mail.glob("*.log"))]


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs Debian's nginx-light where it can).")
    folder = tmp_path_factory.mktemp("proxy")
    static, mail = folder / "static", folder / "mail"
    mail.mkdir()
    secret_key = secrets.token_urlsafe(64)
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env |= {
        "DEBUG": "0",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": _database_url(),
        "STATIC_ROOT": str(static),
        "MEDIA_ROOT": str(folder / "media"),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail),
        "BACKLOT_TRUSTED_PROXIES": "127.0.0.1,::1",
        "LEAK_MAX_NETWORKS": "3",
        "LEAK_IPV4_PREFIX": "24",
        # The monitor's network and token: /metrics needs both.
        "BACKLOT_METRICS_NETWORKS": "127.0.9.0/24",
        "BACKLOT_METRICS_TOKEN": METRICS_TOKEN,
        # One process, so allauth's rate limits live in one per-process cache, fresh for every run.
        "CACHE_URL": "",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "PYTHONUNBUFFERED": "1",
    }
    timings = {}
    # Before gunicorn starts: WhiteNoise and the manifest storage read the collected files as they load.
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    timings["collectstatic"] = time.monotonic() - began

    began, upstream = time.monotonic(), free_port()
    gunicorn = _start(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "platform/gunicorn.conf.py"],
        env=env | {"GUNICORN_BIND": f"127.0.0.1:{upstream}"},
        log=folder / "gunicorn.log",
        port=upstream,
        what="gunicorn",
    )
    timings["gunicorn"] = time.monotonic() - began

    began, listen = time.monotonic(), free_port()
    site = nginx_site(
        (ROOT / "platform" / "nginx" / "backlot.conf").read_text(), listen=listen, upstream=upstream, static=static
    )
    (folder / "nginx.conf").write_text(nginx_conf(site, folder))
    command = [NGINX, "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
    nginx = _start(command, env=env, log=folder / "nginx.out", port=listen, what="nginx")
    timings["nginx"] = time.monotonic() - began
    print("\nproxy stack started: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in timings.items()))
    try:
        yield Stack(
            nginx=listen, gunicorn=upstream, mail=mail, media=folder / "media", secret_key=secret_key, started_s=timings
        )
    finally:
        _stop(nginx)
        _stop(gunicorn)
        print(f"gunicorn log: {folder / 'gunicorn.log'}; nginx logs: {folder}")


class Client:
    """One person at one address: a socket bound to ``source``, cookies kept between requests. ``direct``
    clients talk to gunicorn itself and claim, as nginx would, that the request came over HTTPS."""

    def __init__(self, port: int, source: str, *, direct: bool = False):
        self.port, self.source, self.direct = port, source, direct
        self.cookies: dict[str, str] = {}
        self.requests = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict | None = None,
        form: dict | None = None,
        body: bytes | None = None,
        raw: bool = False,
    ):
        headers = {"Host": HOST, **(headers or {})}
        if self.direct:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if form is not None:
            body = urlencode(form)
            headers |= {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"https://{HOST}"}
        connection = HTTPConnection("127.0.0.1", self.port, source_address=(self.source, 0), timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if raw:
                return response.status, response.headers, body
            text = body.decode(errors="replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie(value)
                self.cookies |= {name: morsel.value for name, morsel in cookie.items()}
            self.requests += 1
            return response.status, text
        finally:
            connection.close()

    def sign_in(self, email: str, password: str, *, headers: dict | None = None) -> int:
        status, page = self.request("GET", "/accounts/login/", headers=headers)
        assert status == 200, page[:500]
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"login": email, "password": password, "csrfmiddlewaretoken": csrf}
        return self.request("POST", "/accounts/login/", headers=headers, form=form)[0]


def _with_pbkdf2_password(settings, *users):
    settings.PASSWORD_HASHERS = PBKDF2
    for user in users:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])


def test_through_nginx_a_token_used_from_four_networks_is_suspended(stack, tester):
    began = time.monotonic()
    record, token = token_create(user=tester, name="script", scopes=["read"])
    auth = {"Authorization": f"Bearer {token}"}

    statuses = [
        Client(stack.nginx, f"127.0.{n}.1").request("GET", "/api/v1/jobs/", headers=auth)[0] for n in (1, 2, 3, 4)
    ]
    again = Client(stack.nginx, "127.0.1.1").request("GET", "/api/v1/jobs/", headers=auth)

    assert statuses == [200, 200, 200, 401]
    assert again[0] == 401 and "suspended" in again[1]
    record.refresh_from_db()
    assert record.state == "suspended" and record.last_used_ip == "127.0.3.1"
    alert = LeakAlert.objects.get(token=record)
    assert alert.details["networks"] == 4
    networks = sorted(
        CredentialSighting.objects.filter(credential=f"token:{record.pk}").values_list("network", flat=True)
    )
    assert networks == [f"127.0.{n}.0/24" for n in (1, 2, 3, 4)]

    # One client that writes other addresses into X-Forwarded-For itself stays one network: nginx appends
    # the address it saw, and only that is read.
    other, other_token = token_create(user=tester, name="laptop", scopes=["read"])
    spoofer = Client(stack.nginx, "127.0.5.1")
    forged = [
        spoofer.request(
            "GET",
            "/api/v1/jobs/",
            headers={"Authorization": f"Bearer {other_token}", "X-Forwarded-For": f"203.0.{n}.9"},
        )[0]
        for n in range(1, 6)
    ]
    assert forged == [200] * 5
    other.refresh_from_db()
    assert other.state == "active" and other.last_used_ip == "127.0.5.1"
    print(
        f"token: 4 networks through nginx -> {statuses}, then {again[0]}; forged header x5 -> {forged}; "
        f"{time.monotonic() - began:.2f} s"
    )


def test_through_nginx_a_suspension_made_elsewhere_is_seen_by_the_next_request_and_so_is_its_lifting(
    stack, tester, admin_user
):
    """gunicorn keeps each person's standing between requests (access/standing.py); a suspension made by another
    process (here the test's, as by an admin's page or `manage.py suspend`) is seen by the very next request."""
    from access.suspensions import reinstate, suspend

    _, token = token_create(user=tester, name="script", scopes=["read"])
    client = Client(stack.nginx, "127.0.7.1")

    def statuses() -> list[int]:
        return [client.request("GET", "/api/v1/jobs/", headers={"Authorization": f"Bearer {token}"})[0] for _ in "abcd"]

    assert statuses() == [200] * 4
    programme = tester.memberships.get().programme
    suspension = suspend(programme=programme, user=tester, reason="Shared a clip", actor=admin_user)
    refused = client.request("GET", "/api/v1/jobs/", headers={"Authorization": f"Bearer {token}"})
    assert refused[0] == 403 and "Shared a clip" in refused[1]
    assert statuses() == [403] * 4

    reinstate(suspension=suspension, actor=admin_user)
    assert statuses() == [200] * 4


def test_through_nginx_ten_failed_sign_ins_from_ten_clients_lock_out_nobody_else(stack, settings, tester):
    _with_pbkdf2_password(settings, tester)
    began = time.monotonic()

    def fail(n):
        return Client(stack.nginx, f"127.0.{10 + n}.1").sign_in(f"nobody{n}@example.org", "wrong-password")

    with ThreadPoolExecutor(max_workers=10) as clients:  # ten clients at once, as an attack would come
        failures = list(clients.map(fail, range(10)))
    eleventh = Client(stack.nginx, "127.0.20.1").sign_in(tester.email, PASSWORD)

    assert failures == [200] * 10, "each failure is answered with the form again, none with 429"
    assert eleventh == 302, "the eleventh person, with the right password, is signed in"
    event = AuditEvent.objects.get(action="access.signed_in", subject=tester)
    assert event.ip == "127.0.20.1"
    print(
        f"sign-in: 10 failures from 10 clients -> {failures}; 11th person -> {eleventh}; "
        f"{time.monotonic() - began:.2f} s"
    )


def test_through_nginx_a_new_network_is_emailed_and_the_audit_has_real_addresses(stack, settings, tester):
    _with_pbkdf2_password(settings, tester)
    began = time.monotonic()
    home, cafe = Client(stack.nginx, "127.0.30.1"), Client(stack.nginx, "127.0.31.1")

    assert home.sign_in(tester.email, PASSWORD) == 302
    first_emails = [text for text in stack.emails() if "New sign-in" in text and tester.email in text]
    assert cafe.sign_in(tester.email, PASSWORD) == 302

    events = AuditEvent.objects.filter(action="access.signed_in", subject=tester).order_by("at")
    assert [(event.ip, event.data["network"]) for event in events] == [
        ("127.0.30.1", "127.0.30.0/24"),
        ("127.0.31.1", "127.0.31.0/24"),
    ]
    sessions = sorted(UserSession.objects.filter(user=tester).values_list("ip", flat=True))
    assert sessions == ["127.0.30.1", "127.0.31.1"]
    emails = [text for text in stack.emails() if "New sign-in" in text and tester.email in text]
    assert first_emails == [] and len(emails) == 1
    assert "Subject: New sign-in to Backlot from 127.0.31.1" in emails[0]
    # The pages the person then opens are watched from the same address: one session, one network.
    assert cafe.request("GET", "/clips/")[0] == 200
    print(
        f"new network: audit {[event.ip for event in events]}, sessions {sessions}, "
        f"{len(emails)} email; {time.monotonic() - began:.2f} s"
    )


def test_straight_at_gunicorn_forged_forwarded_headers_are_ignored(stack, tester):
    """A client that skips nginx and claims both HTTPS and another address is believed in neither: its claim of
    HTTPS is dropped, so production settings send it to https:// before anything reads its token or form."""
    began = time.monotonic()
    record, token = token_create(user=tester, name="script", scopes=["read"])
    direct = Client(stack.gunicorn, "127.0.40.1", direct=True)

    forged = [
        direct.request(
            "GET", "/api/v1/jobs/", headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": f"203.0.{n}.9"}
        )
        for n in range(1, 6)
    ]
    login = direct.request("GET", "/accounts/login/", headers={"X-Forwarded-For": "198.51.100.77"})

    assert [status for status, _ in forged] == [301] * 5
    assert login[0] == 301
    record.refresh_from_db()
    assert record.state == "active" and record.last_used_ip is None, "the token was never read"
    assert not AuditEvent.objects.filter(action="access.signed_in", subject=tester).exists()
    assert not UserSession.objects.filter(user=tester).exists()
    print(
        f"direct: forged X-Forwarded-Proto and X-Forwarded-For x5 -> {[status for status, _ in forged]}, "
        f"token {record.state} and unused; {time.monotonic() - began:.2f} s"
    )


def test_through_nginx_a_clip_link_answers_byte_ranges(stack, settings, tester):
    """nginx passes Range through to gunicorn and the 206 back unchanged (no proxy cache fetching whole files),
    so a player behind the handbook's proxy can seek; a link whose owner lost access gets no bytes."""
    data = bytes(range(256)) * 2048  # 512 KiB, more than nginx's proxy buffers hold in memory
    (stack.media / "renders").mkdir(parents=True, exist_ok=True)
    (stack.media / "renders" / "proxied.mp4").write_bytes(data)
    job = RenderJobFactory(owner=tester, grant=tester.grants.get(), state="succeeded", output="renders/proxied.mp4")
    settings.SECRET_KEY = stack.secret_key  # the link is signed as the deployed site signs it
    link = media_url(job)
    client = Client(stack.nginx, "127.0.9.1")

    status, headers, body = client.request("GET", link, headers={"Range": "bytes=300000-300099"}, raw=True)
    assert status == 206 and body == data[300000:300100]
    assert headers["Content-Range"] == f"bytes 300000-300099/{len(data)}" and headers["Accept-Ranges"] == "bytes"
    assert headers["Cache-Control"] == "private, no-store"
    status, headers, body = client.request("GET", link, headers={"Range": "bytes=-10"}, raw=True)
    assert status == 206 and body == data[-10:]
    status, headers, _ = client.request("GET", link, headers={"Range": f"bytes={len(data)}-"}, raw=True)
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    status, headers, body = client.request("GET", link, raw=True)
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"

    tester.is_active = False
    tester.save(update_fields=["is_active"])
    status, headers, body = client.request("GET", link, headers={"Range": "bytes=0-99"}, raw=True)
    assert status == 403 and "Content-Range" not in headers and data[:100] not in body


def test_through_nginx_health_answers_anyone_and_metrics_only_the_monitor_with_its_token(stack):
    """A load balancer polls /livez and /readyz through nginx; /metrics answers only from the monitor's
    network (the address nginx forwards, not the socket's) and with its token."""
    outside, monitor = Client(stack.nginx, "127.0.5.1"), Client(stack.nginx, "127.0.9.1")
    assert outside.request("GET", "/livez")[0] == 200
    status, headers, body = outside.request("GET", "/readyz", raw=True)
    assert status in (200, 503) and headers["Content-Type"].startswith("application/json"), body[:300]
    assert b'"status"' in body and b'"checks"' not in body, "the reasons and figures are the monitor's"

    assert outside.request("GET", "/api/v1/jobs/")[0] in (401, 403)  # counted by status, whoever answered
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert outside.request("GET", "/metrics", headers=bearer)[0] == 403
    assert monitor.request("GET", "/metrics")[0] == 401
    assert monitor.request("GET", "/metrics", headers={"Authorization": "Bearer not-the-token"})[0] == 401
    # Straight at gunicorn from the monitor's address nginx would forward: gunicorn sees 127.0.0.1, not trusted
    # for /metrics, and forged forwarding headers from a peer that is not the proxy are ignored.
    forged = {**bearer, "X-Forwarded-For": "127.0.9.1"}
    assert Client(stack.gunicorn, "127.0.5.1", direct=True).request("GET", "/metrics", headers=forged)[0] in (301, 403)

    status, _, body = monitor.request("GET", "/readyz", headers=bearer, raw=True)
    assert status in (200, 503) and b'"database"' in body and b'"checks"' in body, body[:300]
    status, headers, body = monitor.request("GET", "/metrics", headers=bearer, raw=True)
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), body[:300]
    from prometheus_client.parser import text_string_to_metric_families

    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"backlot_queue_depth", "backlot_workers", "backlot_api_requests"} <= names, sorted(names)


def test_through_nginx_an_upload_is_judged_by_its_bytes_and_a_mode_is_queued_or_refused_clearly(stack, tester, tester2):
    """The creative modes' doors as deployed: uploads through nginx's body limit to gunicorn, a text file named
    .png refused by its bytes, a real picture kept, image to video queued from it, and a mode the model lacks or
    someone else's upload refused with the field's reason and nothing charged."""
    client = Client(stack.nginx, "127.0.21.1")
    auth = {"Authorization": f"Bearer {token_create(user=tester, name='studio', scopes=['read', 'generate'])[1]}"}

    def upload(data: bytes, *, as_client=client, headers=auth):
        boundary = secrets.token_hex(12)
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="still.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, text = as_client.request("POST", "/api/v1/uploads/", headers=headers | multipart, body=body)
        return status, json.loads(text)

    def submit(**fields):
        body = {"prompt": "a red kite over the sea", "model_key": "ltx-video", "num_frames": 17, "width": 192}
        body |= {"height": 128, "num_steps": 4, "guidance_scale": 3.0, **fields}
        headers = auth | {"Content-Type": "application/json"}
        status, text = client.request("POST", "/api/v1/jobs/", headers=headers, body=json.dumps(body).encode())
        return status, json.loads(text)

    status, refused = upload(b"this is a text file, not a picture\n" * 20)
    assert status == 400 and "file" in refused and not InputImage.objects.exists(), refused

    status, kept = upload(image_bytes(width=320, height=200))
    assert (status, kept["format"], kept["width"], kept["height"]) == (201, "PNG", 320, 200), kept

    status, lacking = submit(mode="restyle", source=kept["id"])  # LTX-Video has no restyle
    assert status == 400 and "mode" in lacking and not RenderJob.objects.exists(), lacking
    theirs_auth = {"Authorization": f"Bearer {token_create(user=tester2, name='other', scopes=['generate'])[1]}"}
    _, theirs = upload(image_bytes(), as_client=Client(stack.nginx, "127.0.22.1"), headers=theirs_auth)
    status, not_found = submit(mode="image_to_video", image=theirs["id"])
    assert (status, not_found.get("image")) == (400, ["No such uploaded image."]) and not RenderJob.objects.exists()

    status, queued = submit(mode="image_to_video", image=kept["id"])
    assert status == 201 and (queued["mode"], queued["image"], queued["state"]) == (
        "image_to_video",
        kept["id"],
        "queued",
    )
    assert RenderJob.objects.get().charged_seconds > 0
