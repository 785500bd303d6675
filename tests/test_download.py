"""Fetching VOC and SBD: from a server on the loopback interface, the md5 checked, an extracted tree never
fetched again, and offline a clear error."""

import functools
import io
import hashlib
import http.server
import tarfile
import threading

import pytest

from segbench.data.download import ensure_sbd, ensure_voc, sbd_present, voc_present
from segbench.data.synth import write_sbd, write_voc
from segbench.errors import DatasetError


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL, stopped afterwards."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, httpd
    httpd.shutdown()
    httpd.server_close()


def archive(source, members, target):
    with tarfile.open(target, "w:gz" if target.suffix == ".tgz" else "w") as tar:
        for arcname, path in members:
            tar.add(path, arcname=arcname)
    return hashlib.md5(target.read_bytes()).hexdigest()


def test_voc_is_fetched_checked_extracted_and_not_fetched_again(server, tmp_path):
    base, www, httpd = server
    write_voc(tmp_path / "src", train=2, val=2)
    md5 = archive(tmp_path / "src", [("VOCdevkit", tmp_path / "src" / "VOCdevkit")], www / "voc.tar")
    root = tmp_path / "data"
    ensure_voc(root, f"{base}/voc.tar", md5)
    assert voc_present(root)
    httpd.shutdown()                                   # a second call must not need the server
    ensure_voc(root, f"{base}/voc.tar", md5)


def test_a_wrong_md5_is_refused(server, tmp_path):
    base, www, _ = server
    write_voc(tmp_path / "src", train=2, val=2)
    archive(tmp_path / "src", [("VOCdevkit", tmp_path / "src" / "VOCdevkit")], www / "voc.tar")
    with pytest.raises(DatasetError, match="could not fetch voc2012"):
        ensure_voc(tmp_path / "data", f"{base}/voc.tar", "0" * 32)
    assert not voc_present(tmp_path / "data")


def test_sbd_is_moved_out_of_benchmark_release(server, tmp_path):
    base, www, _ = server
    dataset = write_sbd(tmp_path / "src", train=3, val=2)
    md5 = archive(tmp_path / "src", [("benchmark_RELEASE/dataset", dataset)], www / "benchmark.tgz")
    ensure_sbd(tmp_path / "sbd", f"{base}/benchmark.tgz", md5)
    assert sbd_present(tmp_path / "sbd") and len((tmp_path / "sbd" / "train.txt").read_text().split()) == 3


def test_offline_the_error_says_where_and_what_to_do(tmp_path):
    with pytest.raises(DatasetError) as err:
        ensure_voc(tmp_path / "data", "http://127.0.0.1:9/VOCtrainval_11-May-2012.tar", None)
    message = str(err.value)
    assert "could not fetch voc2012 from http://127.0.0.1:9/" in message and str(tmp_path / "data") in message
    assert "extract it into" in message and "--url" in message


def hostile_archive(target, member):
    """A tar whose one member is `member`: a file named outside the root, or a link pointing out of it."""
    with tarfile.open(target, "w") as tar:
        tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return hashlib.md5(target.read_bytes()).hexdigest()


def file_named(name):
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def link_to(target):
    info = tarfile.TarInfo("VOCdevkit/link")
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize("member", [file_named("../escaped.txt"), link_to("/etc/passwd"), link_to("../../../escaped")],
                         ids=["dot-dot", "absolute link", "relative link out"])
def test_an_archive_member_that_leaves_the_root_is_refused(server, tmp_path, member):
    base, www, _ = server
    md5 = hostile_archive(www / "voc.tar", member)
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match=f"holds '{member.name}', which would be written outside"):
        ensure_voc(root, f"{base}/voc.tar", md5)
    assert not (tmp_path / "escaped.txt").exists() and not (root / "VOCdevkit" / "link").exists()
