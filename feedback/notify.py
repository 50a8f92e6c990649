"""Telling a tester about their work: an in-app notification and an email, sent once the change commits."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from feedback.models import Notification


def notify(user, text: str, url: str = "") -> Notification:
    notification = Notification.objects.create(user=user, text=text[:300], url=url)
    link = f"{settings.SITE_URL.rstrip('/')}{url}" if url.startswith("/") else url
    body = f"{text}\n\n{link}\n" if link else f"{text}\n"
    transaction.on_commit(lambda: send_mail(f"Backlot: {text[:80]}", body, None, [user.email], fail_silently=True))
    return notification


def notifications_unread(user):
    return Notification.objects.filter(user=user, read_at__isnull=True)
