import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.lean import with_lean_paths  # noqa: E402 (needs the settings loaded above)

application = with_lean_paths(application)
get_resolver().url_patterns  # noqa: B018 (loads every app's views and URLs now, not on the first request)
# Everything loaded so far lives as long as the process: moved out of the collector's sight, a full
# collection no longer walks it. Measured at 1M jobs: full collections fell from about 83 ms to 3 ms,
# which had been the slowest 5 % of API list requests.
gc.freeze()
