"""A stand-in for the write side of the API (uploads, links, seals) and for S3's presigned PUT,
served over HTTP, following the shapes of docs/client.md. It checks what the real services check:
the PUT carries exactly the signed headers and bytes whose SHA-256 matches, never the API token;
writes carry a bearer token. Used until those routes run in the local stack."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEY_ID = "alias/etl-artifacts-manifest"


@dataclass
class StubState:
    url: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    puts: list[dict[str, str]] = field(default_factory=list)
    creates: list[dict[str, str]] = field(default_factory=list)
    seals: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def view(self, record: dict[str, Any]) -> dict[str, Any]:
        shown = dict(record)
        if record["status"] == "active":
            shown["url"] = f"{self.url}/s3/{record['artifact_id']}"
            shown["url_expires_at"] = "2099-01-01T00:00:00Z"
        elif record["status"] == "pending":
            shown["upload"] = {
                "method": "PUT",
                "url": f"{self.url}/s3/{record['artifact_id']}?X-Amz-Signature=stub",
                "headers": {
                    "Content-Type": record["content_type"],
                    "Content-Length": str(record["size_bytes"]),
                    "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(record["sha256"])).decode(),
                },
                "expires_at": "2099-01-01T00:00:00Z",
            }
        return shown


def _handler(state: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            if body is not None and not isinstance(body, bytes):
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str) -> None:
            self._send(status, {"detail": code.replace("_", " "), "code": code, "status": status})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorized(self) -> bool:
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                self._error(401, "unauthorized")
                return False
            return True

        def do_PUT(self) -> None:
            artifact_id = self.path.split("?")[0].rsplit("/", 1)[-1]
            record = state.records.get(artifact_id)
            body = self._body()
            state.puts.append(dict(self.headers.items()))
            signed = state.view(record)["upload"]["headers"] if record else {}
            if (
                record is None
                or "Authorization" in self.headers
                or any(self.headers.get(name) != value for name, value in signed.items())
                or hashlib.sha256(body).hexdigest() != record["sha256"]
            ):
                self._send(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
                return
            state.objects[artifact_id] = body
            self._send(200, b"")

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path.startswith("/s3/"):
                artifact_id = path.rsplit("/", 1)[-1]
                if artifact_id not in state.objects:
                    self._send(404, b"")
                else:
                    self._send(200, state.objects[artifact_id])
                return
            if not self._authorized():
                return
            if path == "/api/v1/manifest-keys":
                self._send(200, {"keys": [{"key_id": KEY_ID, "public_key_pem": state.public_pem()}]})
            elif path.startswith("/api/v1/artifacts/") and path.count("/") == 4:
                record = state.records.get(path.rsplit("/", 1)[-1])
                self._send(200, state.view(record)) if record else self._error(404, "artifact_not_found")
            elif path.endswith("/artifacts") and "/runs/" in path:
                self._send(200, {"artifacts": [], "count": 0, "next_cursor": None})  # no parquet here
            elif path.endswith("/artifacts") and path.startswith("/api/v1/dags/"):
                self._list(path.split("/")[4])
            elif path.endswith("/manifest"):
                run = path.removesuffix("/manifest")
                self._send(200, state.seals[run]) if run in state.seals else self._error(
                    404, "run_not_sealed"
                )
            else:
                self._error(404, "not_found")

        def _list(self, dag_id: str) -> None:
            """One active record a page (so cursors are followed), filtered by date and run_id."""
            from urllib.parse import parse_qs, quote, urlsplit

            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            found = [
                r
                for r in state.records.values()
                if r["dag_id"] == dag_id
                and r["status"] == "active"
                and r["date"] == query.get("date", r["date"])
                and r["run_id"] == quote(query.get("run_id", ""), safe="")
            ]
            start = int(query.get("cursor", "0"))
            items = [state.view(r) for r in found[start : start + 1]]
            more = start + 1 < len(found)
            self._send(200, {"items": items, "next_cursor": str(start + 1) if more else None})

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            if not self._authorized():
                return
            raw = self._body()
            body = json.loads(raw) if raw else {}
            parts = path.split("/")
            if path.endswith("/artifacts") and "/runs/" in path:
                state.creates.append(dict(self.headers.items()))
                number = len(state.records) + 1
                artifact_id = f"art_01JSTUB{number:019d}"
                content = None
                if "content_base64" in body:
                    content = base64.b64decode(body["content_base64"])
                elif "content" in body:
                    content = body["content"].encode("utf-8")
                if content is not None and (
                    len(content) != body["size_bytes"]
                    or hashlib.sha256(content).hexdigest() != body["sha256"]
                ):
                    self._error(422, "checksum_mismatch")
                    return
                record = {
                    "artifact_id": artifact_id,
                    "dag_id": parts[4],
                    "date": parts[6],
                    "run_id": parts[7],
                    "status": "pending" if content is None else "active",
                    "digest": f"sha256:{body['sha256']}",
                    **{k: v for k, v in body.items() if k not in ("content", "content_base64", "ttl_days")},
                }
                state.records[artifact_id] = record
                if content is not None:
                    state.objects[artifact_id] = content
                self._send(201, state.view(record))
            elif path.endswith("/complete"):
                record = state.records.get(parts[4])
                if record is None:
                    self._error(404, "artifact_not_found")
                elif parts[4] not in state.objects:
                    self._error(409, "upload_incomplete")
                else:
                    record["status"] = "active"
                    self._send(200, state.view(record))
            elif path.endswith("/links"):
                if parts[4] not in state.records:
                    self._error(404, "artifact_not_found")
                    return
                link = {
                    "link_id": f"lnk_{len(parts)}",
                    "url": f"{state.url}/api/v1/links/tok-{parts[4]}",
                    "expires_at": "2026-11-27T10:00:00Z",
                    "max_downloads": body.get("max_downloads"),
                    "downloads": 0,
                }
                self._send(201, link)
            elif path.endswith("/seal"):
                run = path.removesuffix("/seal")
                if run not in state.seals:
                    manifest = {
                        "dag_id": parts[4],
                        "date": parts[6],
                        "run_id": parts[7],
                        "sealed_at": "2026-11-20T12:00:00Z",
                        "sealed_by": "tester",
                        "objects": [
                            {"key": "extract/attempt=1/data_000.parquet", "size_bytes": 5, "etag": "e"}
                        ],
                        "artifacts": [
                            {k: r[k] for k in ("artifact_id", "name", "size_bytes", "sha256")}
                            for r in state.records.values()
                            if r["status"] == "active"
                        ],
                        "note": "é ✓ 1e21 ordering check",
                        "numbers": [1.5, 100, 1e-7],
                    }
                    signature = state.key.sign(rfc8785.dumps(manifest), ec.ECDSA(hashes.SHA256()))
                    state.seals[run] = {
                        "manifest": manifest,
                        "signature": {
                            "algorithm": "ECDSA_SHA_256",
                            "key_id": KEY_ID,
                            "value": base64.b64encode(signature).decode(),
                        },
                    }
                self._send(200, state.seals[run])
            else:
                self._error(404, "not_found")

    return Handler


class StubApi:
    def __init__(self) -> None:
        self.state = StubState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.state.url = self.url
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
