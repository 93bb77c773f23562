#!/usr/bin/env python3
"""Serves the browser playground's static folder on loopback.

    serve_web.py [--root DIR] [--port 8080] [--no-isolation]

By default every response carries the cross-origin isolation headers
(COOP: same-origin, COEP: require-corp), so the page picks the threaded build;
--no-isolation serves without them, as a plain static host would, and the page
picks the single-threaded build. --port 0 takes a free port; the first line
printed is the URL.
"""
import argparse
import functools
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    isolation = True
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript", ".cjs": "text/javascript",
                      ".gz": "application/octet-stream"}

    def end_headers(self):
        if self.isolation:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args):  # quiet: tests read stdout for the URL only
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", "build", "web", "site"))
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-isolation", action="store_true")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.root, "index.html")):
        sys.exit(f"serve_web.py: {args.root} has no index.html: build it first (scripts/run.sh)")
    Handler.isolation = not args.no_isolation
    handler = functools.partial(Handler, directory=os.path.abspath(args.root))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as e:
        sys.exit(f"serve_web.py: cannot listen on 127.0.0.1:{args.port}: {e.strerror}")
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
