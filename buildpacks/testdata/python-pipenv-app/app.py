"""Serves a greeting from greetlib, a dependency installed from a local wheel, and the Python it runs on."""
import http.server
import os
import platform

import greetlib


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (greetlib.greet("python") + " on " + platform.python_version() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
