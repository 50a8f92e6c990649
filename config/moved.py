"""Pages that moved keep answering at their old address, with a redirect, but only where nothing else
answers now: the old address of the staff queue, /manage/queue/, is free for a programme called "queue",
whose admins then see their programme there."""

from django.http import HttpResponseRedirect

MOVED = {"/manage/queue/": "/staff/queue/"}


class MovedPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        moved = MOVED.get(request.path)
        if response.status_code == 404 and moved and request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING")
            return HttpResponseRedirect(moved + (f"?{query}" if query else ""))
        return response
