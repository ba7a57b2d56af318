from __future__ import annotations

from mlmonitor.docs_site import docs_file


def test_docs_file_stays_inside_the_site(tmp_path):
    site = tmp_path / "site"
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("index")
    (site / "validations" / "a.html").write_text("a")
    (tmp_path / "secret.txt").write_text("secret")
    (site / "link").symlink_to(tmp_path / "secret.txt")
    assert docs_file(site, "validations/a.html") == (site / "validations" / "a.html").resolve()
    assert docs_file(site, "") == (site / "index.html").resolve()
    assert docs_file(site, "/index.html") == (site / "index.html").resolve()
    for bad in ("../secret.txt", "validations/../../secret.txt", "link", "missing.html", "a\x00b", str(tmp_path)):
        assert docs_file(site, bad) is None, bad
