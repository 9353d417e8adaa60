"""helpers.data against a local HTTP server that misbehaves in every way a mirror can.

The server runs on 127.0.0.1 in a thread and serves real WikiText-2 files read from WIKITEXT_DIR
(never the internet), plus broken variants: 403 for Python's default
User-Agents, 404, an HTML page served as a zip, a corrupt zip, a zip lacking a file, a body cut
short, an endpoint slower than the timeout, a file with the wrong content and a CRLF copy, and
what a hostile mirror could send: a body far longer than any file, a zip bomb, an encrypted
member and a compression method zipfile cannot read.
"""

import contextlib
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import data
from helpers.paths import REPO_ROOT, relative

# A verified copy: WIKITEXT_DIR (CI sets it), else the repository's cache.
REAL_DIR = Path(os.environ.get("WIKITEXT_DIR") or data.CACHE_DIR)
TIMEOUT = 0.5  # seconds; the slow endpoint waits much longer than this
PUBLISHED_MIRRORS = data.DEFAULT_MIRRORS  # before any test replaces it


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(directory: Path) -> list[str]:
    """Everything in `directory`, hidden temp folders included."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def assert_no_absolute_path(text: str, path: Path) -> None:
    # relative() may print "../../tmp/x", which contains "/tmp/x": only a bare one is absolute.
    assert not re.search(r"(?<![\w.])" + re.escape(str(path)), text), text


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


BOMB_SIZE = 100 << 20  # what the bomb's member inflates to: 80 times wiki.test.raw
# A body without a length, far longer than a mirror may send; finite, so that a client without
# a limit would end too (writing all of it), not hang the test.
FLOOD_SIZE = 64 << 20


def bomb_zip(name: str) -> bytes:
    """A zip of about 100 KB whose member inflates to BOMB_SIZE bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open(name, "w") as member:
        block = bytes(1 << 20)
        for _ in range(BOMB_SIZE // len(block)):
            member.write(block)
    return buffer.getvalue()


def patched_zip(name: str, flag_bits: int = 0, method: int | None = None) -> bytes:
    """A one-member zip whose local and central headers are rewritten as a hostile zip's would be:
    ``flag_bits`` set among the general-purpose flags (0x1: encrypted), the compression method
    replaced by ``method``. zipfile writes neither, so the bytes are patched."""
    raw = bytearray(zip_bytes({name: b"not what it seems\n" * 100}))
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        (info,) = archive.infolist()
        central = archive.start_dir
    # (offset of the header, of its flags within it, of its method within it)
    for header, flags_at, method_at in ((info.header_offset, 6, 8), (central, 8, 10)):
        flags = int.from_bytes(raw[header + flags_at: header + flags_at + 2], "little")
        raw[header + flags_at: header + flags_at + 2] = (flags | flag_bits).to_bytes(2, "little")
        if method is not None:
            raw[header + method_at: header + method_at + 2] = method.to_bytes(2, "little")
    return bytes(raw)


@pytest.fixture(scope="session")
def real() -> dict[str, bytes]:
    paths = {split: REAL_DIR / data.FILENAMES[split] for split in ("test", "valid")}
    missing = [relative(p) for p in paths.values() if not p.is_file()]
    if missing:
        pytest.skip(f"real WikiText-2 files not found: {', '.join(missing)}")
    return {split: path.read_bytes() for split, path in paths.items()}


@pytest.fixture(scope="session")
def routes(real) -> dict[str, bytes]:
    """Path -> body for every plain answer the server gives."""
    good_zip = zip_bytes(
        {
            "wikitext-2-raw/wiki.test.raw": real["test"],
            "wikitext-2-raw/wiki.valid.raw": real["valid"],
        }
    )
    corrupt = bytearray(good_zip)
    for i in range(2000, 2100):  # inside the deflate stream of the first member
        corrupt[i] ^= 0xFF
    crlf = real["test"].replace(b"\n", b"\r\n")
    return {
        "/files/wiki.test.raw": real["test"],
        "/files/wiki.valid.raw": real["valid"],
        "/good.zip": good_zip,
        "/ua/good.zip": good_zip,
        "/html.zip": b"<!DOCTYPE html>\n<html><body><h1>403 Forbidden</h1></body></html>\n",
        "/corrupt.zip": bytes(corrupt),
        "/lacking.zip": zip_bytes({"wikitext-2-raw/wiki.valid.raw": real["valid"]}),
        "/wrong/wiki.test.raw": real["test"].replace(b"Robert", b"Rupert", 1),  # same size
        "/crlf/wiki.test.raw": crlf,
        "/crlf.zip": zip_bytes({"wikitext-2-raw/wiki.test.raw": crlf}),
        "/bomb.zip": bomb_zip("wikitext-2-raw/wiki.test.raw"),
        "/encrypted.zip": patched_zip("wikitext-2-raw/wiki.test.raw", flag_bits=0x1),
        "/method99.zip": patched_zip("wikitext-2-raw/wiki.test.raw", method=99),
        # Bodies sent only in half, under a Content-Length for the whole.
        "/truncated/wiki.test.raw": real["test"],
        "/truncated.zip": good_zip,
    }


class Server:
    def __init__(self, routes: dict[str, bytes]):
        self.routes = routes
        self.log: list[tuple[str, str]] = []  # (path, User-Agent) of every request
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def paths(self) -> list[str]:
        return [path for path, _ in self.log]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                agent = self.headers.get("User-Agent", "")
                server.log.append((self.path, agent))
                if self.path.startswith("/slow/"):
                    server.stop.wait(10)  # far past the client's timeout; ends at teardown
                    return
                if self.path.startswith("/flood"):  # FLOOD_SIZE zeros, or until the client goes
                    self.send_response(200)
                    self.end_headers()
                    self.connection.settimeout(5)  # a client that stops reading ends it too
                    with contextlib.suppress(OSError):
                        for _ in range(FLOOD_SIZE >> 16):
                            self.wfile.write(bytes(1 << 16))
                    return
                if self.path.startswith("/stall/"):  # answers, then stops sending mid-body
                    body = server.routes["/files/" + self.path.rsplit("/", 1)[-1]]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:1000])
                    self.wfile.flush()
                    server.stop.wait(10)
                    return
                body = server.routes.get(self.path)
                if body is None:
                    return self.send_error(404)
                if self.path.startswith("/ua/") and agent.lower().startswith(
                    ("python-urllib", "python-requests")
                ):
                    return self.send_error(403)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if "truncated" in self.path:
                    body = body[: len(body) // 2]  # then HTTP/1.0 closes the connection
                self.wfile.write(body)

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(routes):
    with Server(routes) as running:
        yield running


@pytest.fixture
def refused_url() -> str:
    """A URL on a port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/good.zip"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Never touch the repository's data/ cache, the real environment or the internet."""
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", ("http://127.0.0.1:9/unused.zip",))
    monkeypatch.setattr(data, "TIMEOUT", TIMEOUT)
    for name in ("WIKITEXT_DIR", "WIKITEXT_MIRRORS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# --- Downloads ----------------------------------------------------------------------------


def test_archive_mirror_gives_verified_files_and_nothing_else(server, tmp_path, real):
    dest = tmp_path / "dest"
    paths = data.download(("test", "valid"), dest=dest, mirrors=[server.url + "/good.zip"])
    assert paths == {"test": dest / "wiki.test.raw", "valid": dest / "wiki.valid.raw"}
    assert sha256(paths["test"]) == data.SHA256["test"]
    assert sha256(paths["valid"]) == data.SHA256["valid"]
    assert listing(dest) == ["wiki.test.raw", "wiki.valid.raw"]


def test_archive_mirror_extracts_only_requested_splits(server, tmp_path):
    dest = tmp_path / "dest"
    data.download(["test"], dest=dest, mirrors=[server.url + "/good.zip"])
    assert listing(dest) == ["wiki.test.raw"]


def test_per_file_mirror_fetches_only_requested_splits(server, tmp_path):
    dest = tmp_path / "dest"
    paths = data.download(["test"], dest=dest, mirrors=[server.url + "/files/"])
    assert server.paths() == ["/files/wiki.test.raw"]
    assert listing(dest) == ["wiki.test.raw"]
    assert sha256(paths["test"]) == data.SHA256["test"]


def test_sends_its_own_user_agent(server, tmp_path):
    url = server.url + "/ua/good.zip"
    with pytest.raises(urllib.error.HTTPError) as refused:  # the endpoint really refuses urllib
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 403
    data.download(["test"], dest=tmp_path / "dest", mirrors=[url])
    assert server.log[-1] == ("/ua/good.zip", data.USER_AGENT)


def test_files_already_present_are_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "dest"
    data.download(["test"], dest=dest, mirrors=[server.url + "/files/"])
    server.log.clear()
    data.download(["test"], dest=dest, mirrors=[server.url + "/files/"])
    assert server.log == []


def test_a_damaged_file_in_dest_is_replaced(server, tmp_path, real):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "wiki.test.raw").write_bytes(real["test"][:1000])
    data.download(["test"], dest=dest, mirrors=[server.url + "/files/"])
    assert sha256(dest / "wiki.test.raw") == data.SHA256["test"]


BROKEN = [
    # (mirror path, or "refused"; a fragment of the reason given)
    ("refused", "connection refused"),
    ("/missing.zip", "HTTP 404"),
    ("/missing/", "HTTP 404"),
    ("/html.zip", "HTML"),
    ("/corrupt.zip", "corrupt zip"),
    ("/lacking.zip", "has no wiki.test.raw"),
    ("/truncated.zip", "truncated"),
    ("/truncated/", "truncated"),
    ("/slow/", "timed out"),
    ("/slow/x.zip", "timed out"),
    ("/stall/", "timed out"),
    ("/wrong/", "checksum mismatch"),
    ("/crlf/", "CRLF"),
    ("/crlf.zip", "CRLF"),
    ("/flood/", "the server sent more than the 1,290,590 bytes of the published wiki.test.raw"),
    ("/flood.zip", f"the server sent more than {data.ARCHIVE_LIMIT:,} bytes"),
    ("/bomb.zip", "wiki.test.raw in the zip inflates to more than the 1,290,590 bytes"),
    ("/encrypted.zip", "wiki.test.raw in the zip is encrypted (it needs a password)"),
    ("/method99.zip", "wiki.test.raw in the zip is compressed with method 99, which Python's"),
]


def mirror(server, refused_url, path: str) -> str:
    return refused_url if path == "refused" else server.url + path


@pytest.mark.parametrize(("path", "reason"), BROKEN)
def test_each_failure_leaves_nothing_and_is_reported(server, refused_url, tmp_path, path, reason):
    dest = tmp_path / "dest"
    url = mirror(server, refused_url, path)
    with pytest.raises(data.DownloadError) as failed:
        data.download(["test"], dest=dest, mirrors=[url])
    assert listing(dest) == []
    tried = data.file_url(url, "test") if not data.is_archive(url) else url
    assert f"{tried}: " in str(failed.value)
    assert reason in str(failed.value)


@pytest.mark.parametrize(("path", "reason"), BROKEN)
def test_each_failure_moves_on_to_the_next_mirror(server, refused_url, tmp_path, path, reason):
    dest = tmp_path / "dest"
    mirrors = [mirror(server, refused_url, path), server.url + "/files/"]
    paths = data.download(["test"], dest=dest, mirrors=mirrors)
    assert sha256(paths["test"]) == data.SHA256["test"]
    assert listing(dest) == ["wiki.test.raw"]
    assert server.paths()[-1] == "/files/wiki.test.raw"


def written_bytes() -> int:
    """What this process has passed to write() so far, files and pipes (not sockets: send())."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def test_the_crafted_zips_are_what_they_claim(routes):
    def member(path):
        with zipfile.ZipFile(io.BytesIO(routes[path])) as archive:
            return archive.infolist()[0]

    assert len(routes["/bomb.zip"]) < 1 << 20 and member("/bomb.zip").file_size == BOMB_SIZE
    assert member("/encrypted.zip").flag_bits & 0x1
    assert member("/method99.zip").compress_type == 99
    for path, raised in (("/encrypted.zip", RuntimeError), ("/method99.zip", NotImplementedError)):
        with zipfile.ZipFile(io.BytesIO(routes[path])) as archive, pytest.raises(raised):
            archive.read(member(path))  # what zipfile does with them, uncaught


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
@pytest.mark.parametrize(("path", "limit"), [
    ("/bomb.zip", data.SIZES["test"]),  # plus the zip itself, added below
    ("/flood/", data.SIZES["test"]),
    ("/flood.zip", data.ARCHIVE_LIMIT),
])
def test_a_hostile_mirror_gets_no_more_written_than_the_published_size(server, tmp_path, path,
                                                                      limit):
    # The measure sees what a download writes: a good one writes the file's bytes.
    before = written_bytes()
    data.download(["test"], dest=tmp_path / "good", mirrors=[server.url + "/files/"])
    assert written_bytes() - before >= data.SIZES["test"]
    limit += len(server.routes.get(path, b""))
    before = written_bytes()
    with pytest.raises(data.DownloadError):
        data.download(["test"], dest=tmp_path / "dest", mirrors=[server.url + path])
    written = written_bytes() - before
    assert limit <= written <= limit + (64 << 10)  # 64 KiB: the messages printed
    assert listing(tmp_path / "dest") == []


def test_a_plain_http_mirror_is_used_with_a_warning(server, refused_url, tmp_path, capsys):
    secure = refused_url.replace("http://", "https://")
    paths = data.download(["test", "valid"], dest=tmp_path / "dest",
                          mirrors=[secure, server.url + "/files/"])
    assert sha256(paths["valid"]) == data.SHA256["valid"]
    said = capsys.readouterr().err
    assert said.count(f"warning: {server.url}/files/ is plain http://") == 1  # not per file
    assert "prefer an https:// mirror" in said
    assert said.count("is plain http://") == 1  # and not for https://


def test_why_a_transfer_failed_comes_from_exception_types_not_their_text():
    """What requests raises wraps urllib3's exceptions, which wrap the socket's: the reason is
    read off their types, whatever their messages say."""
    import requests
    import urllib3

    def wrapped(inner):
        try:
            try:
                raise inner
            except BaseException as error:
                raise urllib3.exceptions.ProtocolError("misleading: timed out") from error
        except urllib3.exceptions.ProtocolError as error:
            return requests.ConnectionError(error)

    refused = wrapped(ConnectionRefusedError(111, "the text says nothing useful"))
    assert data._transfer_problem(refused) == "connection refused"
    stalled = requests.ConnectionError(urllib3.exceptions.ReadTimeoutError(None, "/", "x"))
    assert data._transfer_problem(stalled) == f"timed out (no answer within {TIMEOUT:g} s)"
    # As urllib3 raises it: NameResolutionError is a NewConnectionError, which urllib3 also
    # makes a ConnectTimeoutError; it is no timeout.
    try:
        try:
            try:
                raise socket.gaierror(-2, "Name or service not known")
            except socket.gaierror as error:
                raise urllib3.exceptions.NameResolutionError("example.org", None, error) \
                    from error
        except urllib3.exceptions.NameResolutionError as error:
            raise urllib3.exceptions.MaxRetryError(None, "/", error) from error
    except urllib3.exceptions.MaxRetryError as error:
        unknown_host = requests.ConnectionError(error)
    assert data._transfer_problem(unknown_host) == "could not connect (Name or service not known)"
    assert data._transfer_problem(OSError(28, "No space left on device")) == \
        "the download failed (No space left on device)"


def test_a_bug_is_not_reported_as_a_mirror_failure(monkeypatch, server, tmp_path):
    def broken(*args):
        raise KeyError("a bug in our code")

    monkeypatch.setattr(data, "_download", broken)
    with pytest.raises(KeyError):
        data.download(["test"], dest=tmp_path / "dest", mirrors=[server.url + "/files/"])
    assert not (tmp_path / "dest").exists()


def test_slow_mirror_gives_up_after_the_timeout(server, tmp_path):
    start = time.monotonic()
    with pytest.raises(data.DownloadError):
        data.download(["test"], dest=tmp_path / "dest", mirrors=[server.url + "/slow/x.zip"])
    assert time.monotonic() - start < TIMEOUT + 3


def test_all_failing_lists_every_mirror_with_its_reason(server, refused_url, tmp_path, capsys):
    dest = tmp_path / "dest"
    mirrors = [refused_url, server.url + "/missing.zip", server.url + "/html.zip"]
    mirrors.append(server.url + "/wrong/")
    with pytest.raises(data.DownloadError) as failed:
        data.download(["test"], dest=dest, mirrors=mirrors)
    message = str(failed.value)
    assert f"{refused_url}: connection refused" in message
    assert f"{server.url}/missing.zip: HTTP 404" in message
    assert f"{server.url}/html.zip: the server sent an HTML" in message
    assert f"{server.url}/wrong/wiki.test.raw: checksum mismatch" in message
    assert "WIKITEXT_DIR" in message
    assert relative(dest) in message
    assert_no_absolute_path(message, tmp_path)
    assert_no_absolute_path(capsys.readouterr().err, tmp_path)
    assert listing(dest) == []


def test_a_split_missing_from_one_mirror_is_taken_from_the_next(server, tmp_path):
    dest = tmp_path / "dest"
    mirrors = [server.url + "/lacking.zip", server.url + "/files/"]
    data.download(("test", "valid"), dest=dest, mirrors=mirrors)
    # The lacking zip has valid but not test: all or nothing, so both come from /files/.
    assert server.paths() == ["/lacking.zip", "/files/wiki.test.raw", "/files/wiki.valid.raw"]
    assert listing(dest) == ["wiki.test.raw", "wiki.valid.raw"]


def test_per_file_mirror_keeps_the_splits_it_could_give(server, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(data.DownloadError) as failed:
        data.download(("train", "test"), dest=dest, mirrors=[server.url + "/files/"])
    assert "wiki.train.raw" in str(failed.value)
    assert "wiki.test.raw:" not in str(failed.value)
    assert listing(dest) == ["wiki.test.raw"]


def test_mirrors_from_environment(monkeypatch, server, tmp_path):
    assert data.default_mirrors() == list(data.DEFAULT_MIRRORS)
    monkeypatch.setenv("WIKITEXT_MIRRORS", f"  {server.url}/missing.zip\n\t{server.url}/files  ")
    assert data.default_mirrors() == [f"{server.url}/missing.zip", f"{server.url}/files"]
    data.download(["test"], dest=tmp_path / "dest")
    assert server.paths() == ["/missing.zip", "/files/wiki.test.raw"]


@pytest.mark.parametrize("url, problem", [
    ("http://[::1", "Invalid IPv6 URL"),
    ("example.org/wikitext.zip", "it needs http:// or https:// and a host"),
    ("https://", "it needs http:// or https:// and a host"),
])
def test_a_mirror_that_is_not_a_url_is_named(monkeypatch, server, tmp_path, url, problem):
    monkeypatch.setenv("WIKITEXT_MIRRORS", f"{server.url}/files/ {url}")
    message = rf"WIKITEXT_MIRRORS holds '{re.escape(url)}', which is not a URL to download " \
              rf"from \({problem}\)"
    with pytest.raises(ValueError, match=message):
        data.download(["test"], dest=tmp_path / "dest")
    assert not (tmp_path / "dest").exists() and server.paths() == []
    with pytest.raises(ValueError, match="the mirror list holds"):
        data.download(["test"], dest=tmp_path / "dest", mirrors=[url])


@pytest.mark.system
def test_cli_names_a_mirror_that_is_not_a_url(tmp_path):
    done = run_cli("download", "--dest", str(tmp_path / "d"),
                   env={"WIKITEXT_MIRRORS": "http://[::1"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: WIKITEXT_MIRRORS holds 'http://[::1'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()


def test_an_offline_attempt_at_the_train_split_leaves_no_empty_folder(monkeypatch, refused_url,
                                                                     tmp_path):
    """The cache is data/wikitext-2-raw; offline, neither folder may stay behind empty."""
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "data" / "wikitext-2-raw")
    monkeypatch.setattr(data, "DEFAULT_MIRRORS", (refused_url,))
    with pytest.raises(data.DownloadError, match="connection refused"):
        data.load_split("train")
    assert not (tmp_path / "data").exists()


def test_default_mirror_list_is_the_published_one():
    assert PUBLISHED_MIRRORS == (
        "https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
        "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip",
        "https://cosmo.zip/pub/datasets/wikitext-2-raw/",
    )
    assert [data.is_archive(url) for url in PUBLISHED_MIRRORS] == [True, True, False]
    assert data.file_url(PUBLISHED_MIRRORS[2], "test") == (
        "https://cosmo.zip/pub/datasets/wikitext-2-raw/wiki.test.raw"
    )
    assert data.is_archive("https://example.org/get.ZIP?download=1")


def test_a_single_split_name_is_not_split_into_letters(server, tmp_path):
    paths = data.download("test", dest=tmp_path / "dest", mirrors=[server.url + "/files/"])
    assert list(paths) == ["test"]


def test_unknown_split_is_rejected_before_any_download(server, tmp_path):
    with pytest.raises(ValueError, match="train, valid, test"):
        data.download(["tset"], dest=tmp_path / "dest", mirrors=[server.url + "/files/"])
    assert server.log == []


# --- Finding and verifying ----------------------------------------------------------------


@pytest.fixture
def copies(tmp_path, real) -> dict[str, Path]:
    """Folders each holding an intact wiki.test.raw."""
    folders = {}
    for name in ("explicit", "env", "cache"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / "wiki.test.raw").write_bytes(real["test"])
    return folders


def test_lookup_order(monkeypatch, copies, server):
    monkeypatch.setattr(data, "CACHE_DIR", copies["cache"])
    monkeypatch.setenv("WIKITEXT_DIR", str(copies["env"]))
    assert data.search_dirs() == [copies["env"], copies["cache"]]
    assert data.find_split("test", copies["explicit"]) == copies["explicit"] / "wiki.test.raw"
    assert data.find_split("test") == copies["env"] / "wiki.test.raw"
    monkeypatch.delenv("WIKITEXT_DIR")
    assert data.search_dirs() == [copies["cache"]]  # nothing outside the repository
    assert data.find_split("test") == copies["cache"] / "wiki.test.raw"
    (copies["cache"] / "wiki.test.raw").unlink()
    monkeypatch.setenv("WIKITEXT_MIRRORS", server.url + "/files/")
    assert data.find_split("test") == copies["cache"] / "wiki.test.raw"  # downloaded
    assert server.paths() == ["/files/wiki.test.raw"]


def test_wikitext_dir_lacking_the_file_falls_through(monkeypatch, copies, tmp_path):
    monkeypatch.setattr(data, "CACHE_DIR", copies["cache"])
    monkeypatch.setenv("WIKITEXT_DIR", str(tmp_path / "empty"))
    assert data.find_split("test") == copies["cache"] / "wiki.test.raw"


def test_explicit_dir_lacking_the_file_is_an_error(monkeypatch, copies, tmp_path, server):
    monkeypatch.setattr(data, "CACHE_DIR", copies["cache"])
    monkeypatch.setenv("WIKITEXT_MIRRORS", server.url + "/files/")
    with pytest.raises(FileNotFoundError) as missing:
        data.find_split("test", tmp_path / "empty")
    assert f"wiki.test.raw is not in {relative(tmp_path / 'empty')}" in str(missing.value)
    assert_no_absolute_path(str(missing.value), tmp_path)
    assert server.log == []


def test_failed_download_names_the_folders_searched(monkeypatch, tmp_path, server):
    monkeypatch.setenv("WIKITEXT_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("WIKITEXT_MIRRORS", server.url + "/missing.zip")
    with pytest.raises(data.DownloadError) as failed:
        data.find_split("test")
    message = str(failed.value)
    assert relative(tmp_path / "empty") in message
    assert relative(data.CACHE_DIR) in message
    assert f"{server.url}/missing.zip: HTTP 404" in message
    assert listing(data.CACHE_DIR) == []


def test_crlf_copy_fails_with_a_clear_message(tmp_path, real):
    (tmp_path / "wiki.test.raw").write_bytes(real["test"].replace(b"\n", b"\r\n"))
    with pytest.raises(data.ChecksumError) as bad:
        data.load_split("test", tmp_path)
    message = str(bad.value)
    assert "CRLF" in message
    assert data.SHA256["test"] in message
    assert sha256(tmp_path / "wiki.test.raw") in message
    assert relative(tmp_path / "wiki.test.raw") in message
    assert_no_absolute_path(message, tmp_path)
    assert isinstance(bad.value, ValueError)


def test_truncated_copy_is_explained(tmp_path, real):
    (tmp_path / "wiki.test.raw").write_bytes(real["test"][:5000])
    with pytest.raises(data.ChecksumError, match="truncated download"):
        data.find_split("test", tmp_path)


def test_a_huge_copy_is_explained_without_reading_it_into_memory(tmp_path):
    huge = 64 << 20  # 50 times wiki.test.raw; a sparse file, so no disk is spent on it
    with open(tmp_path / "wiki.test.raw", "wb") as file:
        file.truncate(huge)
    tracemalloc.start()
    try:
        with pytest.raises(data.ChecksumError, match=f"{huge:,} bytes; the published file has"):
            data.find_split("test", tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < data.SIZES["test"] + (8 << 20)  # what the explanation reads, and the hashing


def test_verification_is_cached_per_path_size_and_mtime(monkeypatch, tmp_path, real):
    path = tmp_path / "wiki.test.raw"
    path.write_bytes(real["test"])
    calls = []
    hash_file = data._sha256
    monkeypatch.setattr(data, "_sha256", lambda p: calls.append(p) or hash_file(p))
    data.find_split("test", tmp_path)
    data.find_split("test", tmp_path)
    assert len(calls) == 1
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a changed file must be checked again
    data.find_split("test", tmp_path)
    assert len(calls) == 2


def test_verify_reports_each_split(tmp_path, real):
    (tmp_path / "wiki.test.raw").write_bytes(real["test"])
    (tmp_path / "wiki.valid.raw").write_bytes(real["valid"][:-1])
    assert data.verify(tmp_path) == {"train": "missing", "valid": "mismatch", "test": "ok"}
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.verify(tmp_path / "nowhere")


# --- Loading ------------------------------------------------------------------------------


def test_load_split_gives_the_exact_text(real):
    text = data.load_split("test", REAL_DIR)
    assert len(text) == 1_288_556
    assert text.startswith(" \n = Robert Boulter = \n \n Robert Boulter is an English film")
    assert text.encode("utf-8") == real["test"]
    assert len(data.load_split("valid", REAL_DIR)) == 1_144_748


def test_load_split_finds_wikitext_dir_by_default(monkeypatch, real):
    monkeypatch.setenv("WIKITEXT_DIR", str(REAL_DIR))
    assert len(data.load_split("test")) == 1_288_556


def test_unknown_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid splits are train, valid, test"):
        data.load_split("training")


def test_load_corpus_reads_utf8_exactly(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffKönig\r\nline two\n".encode())
    assert data.load_corpus(path) == "König\r\nline two\n"


def test_load_corpus_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        data.load_corpus(tmp_path / "shakespeare.txt")
    assert relative(tmp_path / "shakespeare.txt") in str(missing.value)
    assert_no_absolute_path(str(missing.value), tmp_path)


def test_load_corpus_directory_says_it_is_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder: give the path of one text file"):
        data.load_corpus(tmp_path)


def test_load_corpus_drops_a_byte_order_mark_alone(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match="bom.txt is empty"):
        data.load_corpus(tmp_path / "bom.txt")


def test_a_text_of_your_own_given_as_data_dir_is_pointed_to_text_file(tmp_path):
    (tmp_path / "wiki.test.raw").write_text("my own notes, not WikiText\n", "utf-8")
    with pytest.raises(data.ChecksumError, match="give its path as text_file"):
        data.load_split("test", data_dir=tmp_path)


def test_load_corpus_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        data.load_corpus(tmp_path / "empty.txt")


def test_load_corpus_invalid_utf8_names_the_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"first line\nK" + "önig".encode("latin-1"))
    with pytest.raises(ValueError) as bad:
        data.load_corpus(path)
    message = str(bad.value)
    assert "latin1.txt is not valid UTF-8" in message
    assert "byte offset 12 (line 2)" in message
    assert "0xf6" in message
    assert "UTF-8" in message.split("Re-save", 1)[1]


# --- Command line -------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WIKITEXT_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "helpers.data", *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.system
def test_cli_verify_accepts_a_verified_folder(real):
    done = run_cli("verify", str(REAL_DIR))
    assert done.returncode == 0, done.stderr
    assert "ok        " + relative(REAL_DIR / "wiki.test.raw") in done.stdout
    assert "missing   wiki.train.raw" in done.stdout


@pytest.mark.system
def test_cli_verify_rejects_a_tampered_copy(tmp_path, real):
    (tmp_path / "wiki.test.raw").write_bytes(real["test"].replace(b"Boulter", b"Bolter", 1))
    (tmp_path / "wiki.valid.raw").write_bytes(real["valid"])
    done = run_cli("verify", str(tmp_path))
    assert done.returncode == 1
    assert "MISMATCH  " + relative(tmp_path / "wiki.test.raw") in done.stdout
    assert data.SHA256["test"] in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_absolute_path(done.stdout + done.stderr, tmp_path)


@pytest.mark.system
def test_cli_verify_defaults_to_wikitext_dir(tmp_path, real):
    (tmp_path / "wiki.test.raw").write_bytes(real["test"][:-1])
    done = run_cli("verify", env={"WIKITEXT_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "MISMATCH  " + relative(tmp_path / "wiki.test.raw") in done.stdout


@pytest.mark.system
def test_cli_verify_missing_folder(tmp_path):
    done = run_cli("verify", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "no such folder" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.system
def test_cli_download_uses_wikitext_mirrors(server, tmp_path):
    mirrors = f"{server.url}/missing.zip {server.url}/files/"
    done = run_cli(
        "download",
        "--splits",
        "test",
        "--dest",
        str(tmp_path / "d"),
        env={"WIKITEXT_MIRRORS": mirrors},
    )
    assert done.returncode == 0, done.stderr
    assert sha256(tmp_path / "d" / "wiki.test.raw") == data.SHA256["test"]
    assert server.paths() == ["/missing.zip", "/files/wiki.test.raw"]
    assert_no_absolute_path(done.stdout + done.stderr, tmp_path)


@pytest.mark.system
def test_cli_download_failure(server, tmp_path):
    done = run_cli(
        "download",
        "--dest",
        str(tmp_path / "d"),
        env={"WIKITEXT_MIRRORS": server.url + "/missing.zip"},
    )
    assert done.returncode == 1
    assert f"{server.url}/missing.zip: HTTP 404" in done.stderr
    assert "Traceback" not in done.stderr
    assert listing(tmp_path / "d") == []


@pytest.mark.system
def test_cli_usage_errors():
    assert run_cli("download", "--splits", "bogus").returncode == 2
    assert run_cli().returncode == 2
