from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access.audit import client_ip
from access.models import ApiToken
from access.tokens import MAX_DAYS, token_create, token_revoke, token_rotate
from core.input_checks import CheckedInput
from core.ratelimits import RateLimited, rate_consume, rate_refund, retry_after


class TokenForm(CheckedInput, forms.Form):
    name = forms.CharField(max_length=80, help_text="Where you will use it, e.g. 'render script on my laptop'.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiToken.Scope.READ]
    )
    days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=MAX_DAYS, initial=90)


def _page(request, form, *, new_token=None, status=200):
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    context = {"form": form, "tokens": tokens, "new_token": new_token}
    return render(request, "access/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    form = TokenForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                rate_consume(scope="tokens", key=request.user.pk)
            except RateLimited as limited:
                form.add_error(None, str(limited))
                return retry_after(_page(request, form, status=429), limited)
            try:
                _, token = token_create(user=request.user, ip=client_ip(request), **form.cleaned_data)
            except ValidationError as error:
                rate_refund(scope="tokens", key=request.user.pk)
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                return _page(request, TokenForm(), new_token=token, status=201)
        return _page(request, form, status=400)
    return _page(request, form)


def _own_token(request, token_id) -> ApiToken:
    return get_object_or_404(ApiToken, pk=token_id, user=request.user)


@login_required
@require_POST
def token_rotate_view(request, token_id):
    record = _own_token(request, token_id)
    try:
        rate_consume(scope="tokens", key=request.user.pk)
    except RateLimited as limited:
        messages.error(request, str(limited))
        return retry_after(_page(request, TokenForm(), status=429), limited)
    try:
        _, token = token_rotate(record=record, actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        rate_refund(scope="tokens", key=request.user.pk)
        messages.error(request, " ".join(error.messages))
        return redirect("tokens:list")
    return _page(request, TokenForm(), new_token=token, status=201)


@login_required
@require_POST
def token_delete_view(request, token_id):
    try:
        token_revoke(
            record=_own_token(request, token_id),
            actor=request.user,
            reason="Deleted by its owner",
            ip=client_ip(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The token was deleted; it no longer works.")
    return redirect("tokens:list")
