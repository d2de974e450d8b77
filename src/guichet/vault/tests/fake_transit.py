"""A small in-process stand-in for OpenBao's transit engine, following its documented HTTP API.

Only what the transit provider uses: create and read a key, encrypt and decrypt. Responses have
the documented shapes ({"data": {...}} on success, {"errors": [...]} on failure, 204 on key
creation), encrypt creates a missing key as the real engine does (upsert), ciphertexts look like
`vault:v1:<base64>`, and a request without the right X-Vault-Token gets 403 "permission denied".
"""

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class FakeTransit:
    def __init__(self, token: str, mount: str = "transit") -> None:
        self.token = token
        self.mount = mount
        self.keys: dict[str, AESGCM] = {}
        self.down = False
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeTransit":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        self.requests += 1
        if self.down:
            return self.reply(request, 503, {"errors": ["Vault is sealed"]})
        if request.headers.get("X-Vault-Token") != self.token:
            return self.reply(request, 403, {"errors": ["permission denied"]})
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}")
        prefix = f"/v1/{self.mount}/"
        if not request.path.startswith(prefix):
            return self.reply(request, 404, {"errors": ["no handler for route"]})
        action, _, name = request.path[len(prefix) :].partition("/")
        status, payload = self.route(method, action, name, body)
        self.reply(request, status, payload)

    def route(self, method: str, action: str, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if action == "keys" and method == "POST":
            self.keys.setdefault(name, AESGCM(AESGCM.generate_key(256)))
            return 204, None
        if action == "keys" and method == "GET":
            if name not in self.keys:
                return 404, {"errors": []}
            return 200, {"data": {"name": name, "type": "aes256-gcm96", "latest_version": 1}}
        if action == "encrypt" and method == "POST":
            key = self.keys.setdefault(name, AESGCM(AESGCM.generate_key(256)))
            nonce = os.urandom(12)
            sealed = key.encrypt(nonce, base64.b64decode(body["plaintext"]), None)
            ciphertext = "vault:v1:" + base64.b64encode(nonce + sealed).decode()
            return 200, {"data": {"ciphertext": ciphertext, "key_version": 1}}
        if action == "decrypt" and method == "POST":
            if name not in self.keys:
                return 400, {"errors": ["encryption key not found"]}
            raw = str(body.get("ciphertext", ""))
            if not raw.startswith("vault:v1:"):
                return 400, {"errors": ["invalid ciphertext: no prefix"]}
            try:
                blob = base64.b64decode(raw[len("vault:v1:") :])
                plain = self.keys[name].decrypt(blob[:12], blob[12:], None)
            except (InvalidTag, ValueError):
                return 400, {"errors": ["cipher: message authentication failed"]}
            return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}
        return 405, {"errors": ["unsupported operation"]}

    def reply(self, request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        request.send_response(status)
        if data:
            request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
