"""Django's ASGI handler with the middleware chain loaded in synchronous mode.

Every middleware in `settings.MIDDLEWARE` and every view is synchronous. Django's own
`ASGIHandler` loads the chain in async mode, so a request crosses between the event loop and
a worker thread three times: into the thread for the synchronous middleware, back to the loop
for the (async-capable) innermost middleware and `_get_response_async`, and into a thread
again for the view. Here the whole chain, view included, runs in one `sync_to_async` call,
exactly as under WSGI (`BaseHandler.get_response`). Request parsing, the disconnect watch,
streaming responses and `request_started`/`request_finished` stay Django's.

An async view or middleware would still work (Django adapts it with `async_to_sync`), at
the price of the hop this class saves.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:  # ASGIHandler.__init__ would load the chain in async mode
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
