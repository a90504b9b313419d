#!/usr/bin/env python3
"""A loopback HTTP front for the real `apprise` package, answering as the Apprise API
server (caronc/apprise-api) does, for ChannelWatch's tests:

  POST /notify        {urls, body, title?, type?, format?}  the URLs given
  POST /notify/<key>  {body, title?, type?, format?, tag?}  a configuration saved
                      under <key> (given at start, Apprise TEXT format)

Answers: 200 sent; 204 no configuration under the key; 400 a bad request; 424 a
service did not take it. JSON bodies or form fields; JSON answers {"error": ...}
when asked for (Accept: application/json).

Usage: apprise_front.py '{"<key>": "<apprise text config>", ...}'
It listens on 127.0.0.1 on a free port and prints the port on its first line.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import apprise

CONFIGS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
MAX_BODY = 1 << 20


class Front(BaseHTTPRequestHandler):
    def answer(self, status, message):
        wants_json = "application/json" in self.headers.get("Accept", "")
        text = json.dumps({"error": message} if status >= 300 else {"message": message})
        raw = (text if wants_json else message).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if wants_json else "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if status != 204:
            self.wfile.write(raw)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.answer(431, "the payload is too large")
        raw = self.rfile.read(length)
        try:
            if self.headers.get("Content-Type", "").startswith("application/json"):
                data = json.loads(raw or b"{}")
            else:
                data = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        except (ValueError, UnicodeDecodeError):
            return self.answer(400, "the payload could not be read")

        path = self.path.split("?", 1)[0].rstrip("/")
        notifier = apprise.Apprise()
        if path == "/notify":
            urls = data.get("urls")
            if not urls or not notifier.add(urls):
                return self.answer(400, "no valid Apprise URLs were given")
        elif path.startswith("/notify/"):
            config = CONFIGS.get(path[len("/notify/"):])
            if config is None:
                return self.answer(204, "There was no configuration found")
            loaded = apprise.AppriseConfig()
            loaded.add_config(config, format="text")
            notifier.add(loaded)
        else:
            return self.answer(404, "not found")

        body = data.get("body")
        if not body:
            return self.answer(400, "a body is required")
        kind = data.get("type") or "info"
        if kind not in ("info", "success", "warning", "failure"):
            return self.answer(400, "an invalid type was given")
        options = {"body": body, "title": data.get("title") or "", "notify_type": kind}
        if data.get("tag"):
            options["tag"] = data["tag"]
        if notifier.notify(**options):
            return self.answer(200, "Notification(s) sent")
        return self.answer(424, "One or more notification could not be sent")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
print(server.server_address[1], flush=True)
server.serve_forever()
