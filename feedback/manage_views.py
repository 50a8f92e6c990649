from django.http import Http404


def triage_queue(request, slug):
    raise Http404


def health(request, slug):
    raise Http404
