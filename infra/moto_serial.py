"""moto's server, answering one request at a time.

moto's threaded server copies a whole table for each TransactWriteItems while
other threads write to it, which fails under concurrent tests ("dictionary
changed size during iteration"). DynamoDB itself serialises conflicting
transactions; a serial server gives the tests that same guarantee.

Usage: python moto_serial.py HOST PORT
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(
    host,
    port,
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
    use_reloader=False,
    request_handler=MotoRequestHandler,
)
