"""The AWS emulator's server, handling one request at a time.

AWS applies a conditional write (PutItem/TransactWriteItems with a ConditionExpression)
atomically; moto's threaded server checks the condition and writes in separate steps, so two
racing writers can both pass. stint's concurrency guarantees rest on that atomicity, so the
tests run moto's own WSGI app behind one lock: requests are linearised as in AWS, connections
are still accepted concurrently.

Usage: python scripts/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # Drain the response inside the lock: the work may happen while iterating.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
