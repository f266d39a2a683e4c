#!/usr/bin/env python3
"""A webhook receiver written as a platform with its own convention documents it:
`X-SubscribeFlow-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, checked with
`hmac.compare_digest`. It answers 200 to a request it verifies and 401 to any other,
and prints one line per request: `ok <webhook-id>` or `bad <webhook-id>`.

Usage: hmac_receiver.py SECRET   (prints `port N` first, then serves on 127.0.0.1)
"""
import hashlib
import hmac
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = sys.argv[1].encode()
# Requests are served on threads; one line is written whole, under the lock.
PRINT = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        signature = self.headers.get("X-SubscribeFlow-Signature", "")
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(f"sha256={expected}", signature)
        line = f"{'ok' if ok else 'bad'} {self.headers.get('webhook-id', '-')}\n"
        with PRINT:
            sys.stdout.write(line)
            sys.stdout.flush()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port", server.server_address[1], flush=True)
server.serve_forever()
