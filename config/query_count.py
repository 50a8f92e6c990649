"""For benchmarks: every response says how many database queries it took (X-DB-Queries), counted
with connection.execute_wrapper across the whole middleware stack. On only when
BACKLOT_QUERY_COUNT_HEADER is set (bench/load.py sets it for the server it starts)."""

from django.db import connections

HEADER = "X-DB-Queries"


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = 0

        def counted(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connections["default"].execute_wrapper(counted):
            response = self.get_response(request)
        response[HEADER] = str(count)
        return response
