"""A loopback HTTP file server for the download tests: serves one folder on 127.0.0.1 (a free port, printed
first as JSON), honours single Range requests with 206, and logs every request as "PATH RANGE STATUS" to
requests.log in that folder. It stops by itself after 120 seconds or when its standard input closes."""
import http.server, json, os, sys, threading

root = sys.argv[1]
log = open(os.path.join(root, "requests.log"), "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        if not os.path.isfile(path):
            self.send_response(404); self.end_headers(); log.write(f"{self.path} - 404\n"); return
        data = open(path, "rb").read()
        rng = self.headers.get("Range")
        start = 0
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416); self.end_headers(); log.write(f"{self.path} {rng} 416\n"); return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log.write(f"{self.path} {rng or '-'} {206 if start else 200}\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
deadline = threading.Timer(120, server.shutdown)
deadline.daemon = True   # the process must not wait for it once the test closes stdin
deadline.start()
server.serve_forever()
