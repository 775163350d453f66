"""Twilio's REST API for a subprocess, where `responses` cannot reach.

The app under test runs unchanged: only the two standard variables every `requests` user honours
point it here, `HTTPS_PROXY` (our proxy, which answers CONNECT itself instead of tunnelling) and
`REQUESTS_CA_BUNDLE` (the certificate it then shows for api.twilio.com). So the real SDK builds,
signs and sends each request over real TLS, and nothing ever leaves this machine.
"""

from __future__ import annotations

import datetime
import http.server
import itertools
import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "api.twilio.com"


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "twilio-cert.pem", directory / "twilio-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class FakeTwilio:
    env: dict[str, str]  # what the subprocess needs in its environment
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)  # (path, form)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@contextmanager
def fake_twilio(directory: Path) -> Iterator[FakeTwilio]:
    """A CONNECT proxy that plays api.twilio.com: every message or call is created (201) and recorded."""
    from urllib.parse import parse_qs

    cert_path, key_path = _certificate(directory)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    sids = itertools.count(1)
    lock = threading.Lock()

    class Api(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            with lock:
                fake.requests.append((self.path, form))
                sid = f"{'CA' if self.path.endswith('/Calls.json') else 'SM'}{next(sids):032x}"
            body = json.dumps({"sid": sid, "status": "queued"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_CONNECT(self) -> None:
            if not self.path.startswith(f"{HOST}:"):
                self.send_error(403)
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            with tls.wrap_socket(self.connection, server_side=True) as inner:
                Api(inner, self.client_address, self.server)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    fake = FakeTwilio({"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": "",
                       "REQUESTS_CA_BUNDLE": str(cert_path)})  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
