#!/usr/bin/env python3
"""moto_server.py: moto's server on 127.0.0.1, port 0, reporting the port it bound.

Usage: moto_server.py PORT_FILE

`python3 -m moto.server -p PORT` needs a port chosen in advance, and a port picked free, released
and then passed on can be taken by another test in between.  Here the kernel picks the port while
the socket is bound; PORT_FILE is written (atomically: a temporary file renamed) only once the
socket listens, so a test that waits for the file can connect at once.  SIGTERM stops it.
"""
import os
import signal
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    app = DomainDispatcherApplication(create_backend_app)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    port = srv.server_address[1]
    # moto builds some URLs (presigned, callbacks) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()


if __name__ == "__main__":
    main()
