"""Upload, share, seal and manifest verification, SDK and commands, against a stand-in of those
routes served over HTTP (client_stub_api). The same tests against the local stack are at the end,
skipped until the stack serves the upload, link and seal routes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_stub_api import KEY_ID, StubApi
from etl_artifacts_client import Client, VerificationError, read_seal
from etl_artifacts_client.cli import main
from etl_artifacts_client.manifest import canonical_json

DAG = str(uuid.uuid4())
RUN = ("2026-11-20", "manual__2026-11-20T10:15:30+00:00")


@pytest.fixture
def stub() -> Iterator[StubApi]:
    server = StubApi()
    yield server
    server.close()


@pytest.fixture
def client(stub: StubApi) -> Client:
    return Client(stub.url, "stub-token")


def write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_a_large_file_goes_through_the_presigned_put(client, stub, tmp_path):
    data = write(tmp_path / "report.bin", (1 << 20) + 17)
    seen: list[int] = []

    record = client.upload(DAG, *RUN, tmp_path / "report.bin", artifact_type="report", on_bytes=seen.append)

    assert record.status == "active"
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size_bytes == len(data)
    assert stub.state.objects[record.artifact_id] == data
    put = stub.state.puts[0]
    assert "Authorization" not in put  # the API token never goes to the storage
    assert put["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert sum(seen) == len(data)
    assert stub.state.creates[0]["Idempotency-Key"].startswith("etl-artifacts-client-")


def test_a_small_file_goes_inline_and_is_active_at_once(client, stub, tmp_path):
    (tmp_path / "notes.md").write_text("# quality\nall good\n")
    record = client.upload(DAG, *RUN, tmp_path / "notes.md")
    assert record.status == "active" and record.content_type == "text/markdown"
    assert stub.state.puts == []


def test_download_artifact_verifies_sha256(client, stub, tmp_path):
    data = write(tmp_path / "a.bin", 5000)
    record = client.upload(DAG, *RUN, tmp_path / "a.bin", inline=False)
    client.download_artifact(record.artifact_id, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == data

    stub.state.objects[record.artifact_id] = b"x" * 5000  # the stored bytes changed
    with pytest.raises(VerificationError):
        client.download_artifact(record.artifact_id, tmp_path / "bad.bin")
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()


def test_share_returns_a_link(client, tmp_path):
    (tmp_path / "r.csv").write_text("a,b\n1,2\n")
    record = client.upload(DAG, *RUN, tmp_path / "r.csv")
    link = client.share(record.artifact_id, expires_in=3600, max_downloads=3)
    assert link.url and link.url.endswith(record.artifact_id) and link.max_downloads == 3


def test_seal_verifies_and_a_changed_manifest_does_not(client, tmp_path):
    seal = client.seal(DAG, *RUN)
    assert client.verify_seal(seal) == KEY_ID
    assert client.manifest(DAG, *RUN).signature == seal.signature

    tampered = read_seal(
        _dump(tmp_path / "t.json", {**seal.raw, "manifest": {**seal.manifest, "run_id": "x"}})
    )
    with pytest.raises(VerificationError, match="does not match"):
        client.verify_seal(tampered)


def test_canonical_json_is_rfc8785():
    # RFC 8785 section 3.2.3's sorting and number forms
    assert canonical_json({"b": [1e21, 1e-7, 1.5, -0.0], "a": "é\u2028", "\u20ac": 1, "\r": 2}) == (
        '{"\\r":2,"a":"é\u2028","b":[1e+21,1e-7,1.5,0],"€":1}'.encode()
    )


def _dump(path: Path, body: dict) -> Path:
    path.write_text(json.dumps(body))
    return path


def test_upload_share_seal_and_verify_commands(stub, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ETL_ARTIFACTS_API", stub.url)
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", "stub-token")
    (tmp_path / "quality-report.md").write_text("# report\n")
    monkeypatch.setattr(Client, "whoami", lambda self: None)  # the stand-in serves no whoami

    assert (
        main(["upload", DAG, *RUN, str(tmp_path / "quality-report.md"), "--type", "report", "--quiet"]) == 0
    )
    artifact_id = capsys.readouterr().out.strip()
    assert artifact_id.startswith("art_")

    assert main(["share", artifact_id, "--max-downloads", "2"]) == 0
    assert capsys.readouterr().out.strip().endswith(artifact_id)

    assert main(["seal", DAG, *RUN, "--output", str(tmp_path / "seal.json")]) == 0
    capsys.readouterr()
    # offline, with the public key in a file
    (tmp_path / "key.pem").write_text(stub.state.public_pem())
    assert (
        main(["verify-manifest", str(tmp_path / "seal.json"), "--public-key", str(tmp_path / "key.pem")]) == 0
    )
    assert "signature verified" in capsys.readouterr().err
    # with the API's keys
    assert main(["verify-manifest", str(tmp_path / "seal.json")]) == 0
    # a changed manifest fails the work: exit 1, one line
    seal = json.loads((tmp_path / "seal.json").read_text())
    seal["manifest"]["sealed_by"] = "mallory"
    _dump(tmp_path / "bad.json", seal)
    capsys.readouterr()
    assert (
        main(["verify-manifest", str(tmp_path / "bad.json"), "--public-key", str(tmp_path / "key.pem")]) == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match" in err


def test_upload_of_a_missing_file_is_a_usage_error(stub, tmp_path, capsys):
    argv = ["upload", DAG, *RUN, str(tmp_path / "nope"), "--api", stub.url, "--token", "t"]
    assert main(argv) == 2
    assert "no such file" in capsys.readouterr().err


# -- against the local stack (the strict S3 checks the presigned PUT as AWS does) ------------------
def test_upload_share_and_seal_against_the_stack(on_strict_s3, gateway_url, make_token, tmp_path):
    from phases_helpers import new_run
    from runs_helpers import insert_run, phase

    run = new_run()
    insert_run("acme", run.dag_id, run.run_date, run.run_id, {"extract": phase("success")})
    client = Client(gateway_url, make_token("acme", scope="artifacts:write"))
    ref = (str(run.dag_id), run.run_date.isoformat(), run.run_id)
    data = write(tmp_path / "big.bin", (1 << 20) + 5)
    record = client.upload(*ref, tmp_path / "big.bin", inline=False)
    assert record.status == "active"
    client.download_artifact(record.artifact_id, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert client.share(record.artifact_id).url
    report = client.download_run(*ref, tmp_path / "run")
    assert report.ok and (tmp_path / "run" / "uploads" / record.artifact_id / "big.bin").read_bytes() == data
    seal = client.seal(*ref)
    assert client.verify_seal(seal) == seal.key_id


def test_a_missing_extra_is_named_with_exit_2(client, tmp_path):
    import subprocess
    import sys

    _dump(tmp_path / "seal.json", client.seal(DAG, *RUN).raw)
    (tmp_path / "key.pem").write_text("-")
    code = (
        "import sys; sys.modules['cryptography'] = None; from etl_artifacts_client.cli import main; "
        f"sys.exit(main(['verify-manifest', {str(tmp_path / 'seal.json')!r}, '--public-key', "
        f"{str(tmp_path / 'key.pem')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'etl-artifacts-client[verify]'" in done.stderr and "Traceback" not in done.stderr


def test_a_whole_run_download_takes_the_attached_files_verified_by_sha256(client, stub, tmp_path, capsys):
    # Given two files attached to the run, one whose name cannot be a file name on every OS
    (tmp_path / "src").mkdir()
    data = write(tmp_path / "src" / "report.pdf", 3000)
    first = client.upload(DAG, *RUN, tmp_path / "src" / "report.pdf", inline=False)
    other = write(tmp_path / "src" / "x", 10)
    second = client.upload(DAG, *RUN, tmp_path / "src" / "x", name="C:notes.txt")
    dest = tmp_path / "run"
    argv = ["download", DAG, *RUN, "--dest", str(dest), "--api", stub.url, "--token", "t", "--quiet"]

    assert main([*argv, "--retries", "0"]) == 0
    assert (dest / "uploads" / first.artifact_id / "report.pdf").read_bytes() == data
    assert (dest / "uploads" / second.artifact_id / second.artifact_id).read_bytes() == other
    assert "2 of 2 files verified" in capsys.readouterr().err

    # And bytes that no longer match the recorded SHA-256 fail, and leave nothing behind
    (dest / "uploads" / first.artifact_id / "report.pdf").unlink()
    stub.state.objects[first.artifact_id] = b"y" * 3000
    assert main([*argv, "--retries", "0"]) == 1
    err = capsys.readouterr().err
    assert f"failed: uploads/{first.artifact_id}/report.pdf: checksum mismatch" in err
    assert not (dest / "uploads" / first.artifact_id / "report.pdf").exists()
    assert main([*argv, "--no-uploads"]) == 1  # the stand-in has no parquet: nothing to download
