import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guichet.settings")
application = get_wsgi_application()

# A request allocates thousands of short-lived objects (the ORM's query trees, model rows), so
# the default 700-allocation threshold runs a collection every few statements, and each full
# one walks every module and URL pattern loaded above. Those live as long as the worker:
# frozen, collections skip them (Instagram's gc.freeze(); docs/performance.md has the figure).
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 20, 20)
