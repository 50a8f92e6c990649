from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Limit/offset pages whose numbers stay within what a database integer holds: a huge limit gives the
    largest page, a huge offset an empty one, never a database error."""

    max_limit = 100
    max_offset = 10**9

    def get_offset(self, request):
        return min(super().get_offset(request), self.max_offset)
