"""The library's pages: starring clips, collections, and two clips compared side by side. Every page is the
person's own: someone else's clip or collection is 404, as for jobs (generation.gallery.job_for); a person whose
access was withdrawn is refused by access.middleware.AccessMiddleware before any of these run."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generation import gallery, library
from generation.library_forms import CollectionAddForm, CollectionNameForm, FavouriteForm, clip_ids
from generation.media import media_url
from generation.models import Favourite

COLLECTION_PAGE_SIZE = 24


def _next(request, default: str) -> str:
    """Where a plain form post goes back to: the page it came from when that is one of ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- Favourites ----------------------------------------------------------------------------------


@login_required
@require_POST
def favourite_set(request, job_id):
    """Star or unstar one of the person's finished clips. htmx swaps the button for its new state; without
    script the form posts here and the person is sent back to the page they were on."""
    job = gallery.job_for(request.user, job_id)
    form = FavouriteForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            library.favourite_set(owner=request.user, job=job, favourite=form.cleaned_data["favourite"])
        except ValidationError as refused:
            error = _error_text(refused)
    else:
        error = " ".join(form.errors["favourite"])
    job.is_favourite = Favourite.objects.filter(owner=request.user, job=job).exists()
    if request.htmx:
        context = {"job": job, "favourite_error": error, "next_url": _next(request, job.get_absolute_url())}
        return render(request, "generation/library/_favourite.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Clip {job.short_id} {'starred' if job.is_favourite else 'unstarred'}.")
    return redirect(_next(request, job.get_absolute_url()))


# --- Collections ---------------------------------------------------------------------------------


def _collections_page(request, *, form=None, rename_error=None, status=200):
    context = {
        "collections": library.collections_for(request.user),
        "form": form or CollectionNameForm(),
        "rename_error": rename_error,
        "name_max_length": library.NAME_MAX_LENGTH,
    }
    return render(request, "generation/library/collections.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def collection_list(request):
    """The person's collections, and a box to make a new one."""
    if request.method == "GET":
        return _collections_page(request)
    form = CollectionNameForm(request.POST)
    if form.is_valid():
        try:
            collection = library.collection_create(owner=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            form.add_error("name", error.message_dict["name"])
        else:
            messages.success(request, f"Made the collection {collection.name!r}.")
            return redirect(collection)
    return _collections_page(request, form=form, status=400)


@login_required
@require_GET
def collection_detail(request, collection_id):
    """One collection's clips, the latest added first, a page at a time (a count and a page: two queries)."""
    collection = library.collection_for(request.user, collection_id)
    paginator = Paginator(library.collection_items(collection), COLLECTION_PAGE_SIZE)
    number = request.GET.get("page", "1")
    if not number.isdigit() or not 1 <= int(number) <= paginator.num_pages:
        raise Http404("No such page of this collection.")
    page = paginator.page(int(number))
    jobs = library.item_jobs(page.object_list)
    cards = [{"job": job, "poster_url": media_url(job, poster=True) if job.poster else None} for job in jobs]
    context = {"collection": collection, "page": page, "cards": cards, "name_max_length": library.NAME_MAX_LENGTH}
    return render(request, "generation/library/collection.html", context)


@login_required
@require_POST
def collection_rename(request, collection_id):
    collection = library.collection_for(request.user, collection_id)
    old = collection.name
    form = CollectionNameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["name"])
        library.collection_rename(collection=collection, name=form.cleaned_data["name"])
    except ValidationError as error:
        return _collections_page(request, rename_error=f"{old}: {_error_text(error)}", status=400)
    messages.success(request, f"Renamed the collection {old!r} to {collection.name!r}.")
    return redirect(_next(request, reverse("generation:collection_list")))


@login_required
@require_http_methods(["GET", "POST"])
def collection_delete(request, collection_id):
    """Asks first (GET), then deletes (POST). The clips stay in the gallery."""
    collection = library.collection_for(request.user, collection_id)
    if request.method == "POST":
        library.collection_delete(collection=collection)
        messages.success(request, f"Deleted the collection {collection.name!r}; its clips are still in My clips.")
        return redirect("generation:collection_list")
    return render(request, "generation/library/collection_delete.html", {"collection": collection})


@login_required
@require_POST
def clip_collection_add(request, job_id):
    """Put a clip in one of the person's collections, or in a new one named here (from the clip's page)."""
    job = gallery.job_for(request.user, job_id)
    form = CollectionAddForm(request.POST, collections=library.collections_for(request.user))
    back = _next(request, job.get_absolute_url())
    if not form.is_valid():
        messages.error(request, " ".join(message for errors in form.errors.values() for message in errors))
        return redirect(back)
    try:
        if form.cleaned_data["new_name"]:
            collection = library.collection_create(owner=request.user, name=form.cleaned_data["new_name"])
        else:
            collection = library.collection_for(request.user, form.cleaned_data["collection"])
        library.collection_add(collection=collection, job=job)
    except ValidationError as error:
        messages.error(request, _error_text(error))
        return redirect(back)
    messages.success(request, f"Clip {job.short_id} is in the collection {collection.name!r}.")
    return redirect(back)


@login_required
@require_POST
def clip_collection_remove(request, job_id, collection_id):
    job = gallery.job_for(request.user, job_id)
    collection = library.collection_for(request.user, collection_id)
    if library.collection_remove(collection=collection, job_id=job.pk):
        messages.success(request, f"Took clip {job.short_id} out of the collection {collection.name!r}.")
    else:
        messages.info(request, f"Clip {job.short_id} was not in the collection {collection.name!r}.")
    return redirect(_next(request, job.get_absolute_url()))


# --- Compare -------------------------------------------------------------------------------------


@login_required
@require_GET
def compare_pick(request):
    """Choose two clips to compare (?clips=<id>&clips=<id>, from the gallery's ticks or this page's); with
    exactly two the person goes on to the comparison, with one (from a clip's "Compare with…") they choose
    the other here."""
    ids, error = clip_ids(request.GET.getlist("clips"))
    if not error and len(ids) == 2:
        try:
            left, right = library.compare_pair(request.user, ids)
        except ValidationError as refused:
            error = _error_text(refused)
        else:
            return redirect("generation:compare", left.pk, right.pk)
    if not error and len(ids) > 2:
        error = f"Choose two clips to compare (you chose {len(ids)})."
    if ids and gallery.jobs_for(request.user).filter(pk__in=ids).count() != len(ids):
        raise Http404("No such clip.")  # someone else's clip is 404, as everywhere
    choices = library.compare_choices(request.user, chosen=ids)
    cards = [{"job": job, "poster_url": media_url(job, poster=True) if job.poster else None} for job in choices]
    context = {"cards": cards, "chosen": set(ids), "error": error}
    return render(request, "generation/library/compare_pick.html", context, status=400 if error else 200)


def _player(job) -> dict:
    return {"job": job, "video_url": media_url(job), "poster_url": media_url(job, poster=True) if job.poster else None}


@login_required
@require_GET
def compare(request, left_id, right_id):
    """Two of the person's finished clips side by side, their settings' differences marked, played together
    by one control (static/generation/compare.js); without script each video keeps its own controls."""
    try:
        left, right = library.compare_pair(request.user, [left_id, right_id])
    except ValidationError as refused:
        messages.error(request, _error_text(refused))
        return redirect(f"{reverse('generation:compare_pick')}?clips={left_id}")
    context = {
        "clips": [_player(job) for job in (left, right)],
        "left": left,
        "right": right,
        "rows": library.settings_compare(left, right),
    }
    return render(request, "generation/library/compare.html", context)
