#!/usr/bin/env python3
"""A git smart-HTTP server for the git cache tests: `git http-backend` behind Basic auth.

Usage: git_http_server.py PROJECT_ROOT USER TOKEN
Binds 127.0.0.1 on a free port and prints "port N" once it accepts connections.
"""

import base64
import http.server
import subprocess
import sys
import urllib.parse


def make_handler(root, expected):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            self.serve()

        def do_POST(self):
            self.serve()

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def serve(self):
            if self.headers.get("Authorization", "") != expected:
                if self.command == "POST":
                    self.read_body()
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return

            parsed = urllib.parse.urlsplit(self.path)
            env = {
                "PATH": "/usr/bin:/bin",
                "GIT_PROJECT_ROOT": root,
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": urllib.parse.unquote(parsed.path),
                "QUERY_STRING": parsed.query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "REMOTE_USER": "test",
                "REMOTE_ADDR": "127.0.0.1",
            }
            body = self.read_body() if self.command == "POST" else b""
            env["CONTENT_LENGTH"] = str(len(body))
            result = subprocess.run(["git", "http-backend"], input=body, env=env,
                                    capture_output=True, check=False)
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = result.stdout.partition(b"\n\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main():
    root, user, token = sys.argv[1:4]
    expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(root, expected))
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
