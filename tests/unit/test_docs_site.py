from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from mlmonitor.ui.docs_site import VENDORED_ASSETS, docs_file, is_external, offline_css, offline_page

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "include" / "mlmonitor_airflow" / "static" / "vendor"
STATIC, DOCS = "/base/mlmonitor/static", "/base/mlmonitor/docs"
# every element that makes a browser fetch: <script src>, <link href>, <img src> ...
RESOURCE = re.compile(r"<(script|link|img|iframe|source|embed)\b[^>]*?\s(?:src|href)\s*=\s*[\"']?([^\"'\s>]+)", re.I)


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


def _sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


@pytest.mark.integration
@pytest.mark.parametrize("page", ["validation", "index.html", "expectations/tiny.html"])
def test_real_ge_pages_load_only_vendored_files(ge_data_docs, page):
    site, validation_page = ge_data_docs
    original = (site / (validation_page if page == "validation" else page)).read_text(encoding="utf-8")
    known = {asset.url for asset in VENDORED_ASSETS}
    cdn = {
        url for _, url in RESOURCE.findall(original) if is_external(url) and "great-expectations-web-assets" not in url
    }
    assert cdn and cdn <= known, (
        f"GE loads CDN files not vendored (run tools/vendor_data_docs_assets.py): {cdn - known}"
    )

    rewritten = offline_page(original, STATIC, DOCS)

    resources = RESOURCE.findall(rewritten)
    assert [url for _, url in resources if is_external(url)] == []
    assert "https://" not in "".join(re.findall(r"url\([^)]*\)", rewritten))  # the dark theme's S3 logo
    loaded = {url for _, url in resources if url.startswith(f"{STATIC}/vendor/")}
    assert loaded == {f"{STATIC}/vendor/{a.path}" for a in VENDORED_ASSETS if a.url in cdn}
    for url in loaded:
        assert (VENDOR / url.removeprefix(f"{STATIC}/vendor/")).is_file(), url
    # the pinned integrity hashes GE writes still hold: the vendored files are the very bytes it pinned
    for src, sri in re.findall(r'<script src="([^"]+)" integrity="([^"]+)"', rewritten):
        assert _sri(VENDOR / src.removeprefix(f"{STATIC}/vendor/")) == sri, src
    assert ("<img" not in original) or f'src="{DOCS}/static/images/logo-long.png"' in rewritten
    # content and plain links untouched
    assert 'href="https://greatexpectations.io' in rewritten
    assert rewritten.count("tiny") == original.count("tiny")


def test_unknown_external_resources_are_removed_not_fetched():
    html = (
        '<html><head><script src="https://evil.example/x.js">alert(1)</script><script src="./local.js"></script>'
        "<link rel=stylesheet href=//fonts.example/css><link rel=icon href='static/favicon.ico'>"
        "<style>@import url(\"https://x.example/a.css\"); .a { background: url('https://x.example/a.png') }"
        " .b { background: url(img/b.png) }</style></head><body>"
        '<img src="https://tracker.example/p.gif?id=1" alt="pixel"><img src="static/images/a.png">'
        '<img srcset="https://x.example/a.png 2x, b.png 1x"><iframe src="http://x.example/"></iframe>'
        '<div style="background-image: url(https://x.example/c.png)">text</div>'
        '<a href="https://greatexpectations.io">GE</a><img alt="a>b" src="https://x.example/q.png">'
        "<script>var inline = 1;</script></body></html>"
    )
    out = offline_page(html, STATIC, DOCS)
    assert "example" not in out, out
    assert "alert(1)" not in out
    for kept in (
        '<script src="./local.js"></script>',
        "<link rel=icon href='static/favicon.ico'>",
        "url(img/b.png)",
        '<img alt="pixel">',
        '<img alt="a>b">',
        '<img src="static/images/a.png">',
        '<a href="https://greatexpectations.io">GE</a>',
        "<script>var inline = 1;</script>",
        ">text</div>",
    ):
        assert kept in out, kept


def test_known_cdn_urls_map_whatever_the_quoting():
    url = "https://code.jquery.com/jquery-3.7.1.min.js"
    for tag in (f'<script src="{url}"></script>', f"<script src='{url}'></script>", f"<script src={url}></script>"):
        assert (
            offline_page(tag, STATIC + "/", DOCS)
            == f'<script src="{STATIC}/vendor/jquery/3.7.1/dist/jquery.min.js"></script>'
        )


def test_offline_css_keeps_relative_urls():
    css = "a{background:url('https://x/y.png')} b{background:url(../img/z.png)} @import '//x/y.css'; c{}"
    assert offline_css(css) == "a{background:none} b{background:url(../img/z.png)}  c{}"


def test_vendor_folder_holds_every_asset_its_fonts_and_licenses():
    for asset in VENDORED_ASSETS:
        file = VENDOR / asset.path
        assert file.is_file() and file.stat().st_size > 0, f"{file} missing: run tools/vendor_data_docs_assets.py"
        package_dir = VENDOR / asset.package / asset.version
        assert any(package_dir.glob("LICENSE*")) or '"license"' in (package_dir / "package.json").read_text()
        if file.suffix == ".css":
            for ref in re.findall(r"""url\(\s*["']?([^)"'?#]+)""", file.read_text(encoding="utf-8")):
                if not ref.startswith("data:"):
                    assert (file.parent / ref).is_file(), f"{asset.path} needs {ref}"
    manifest = (VENDOR / "MANIFEST.txt").read_text()
    for asset in VENDORED_ASSETS:
        assert f"{asset.package}@{asset.version} sha512-" in manifest


def test_every_cdn_url_of_ge_templates_is_vendored():
    """A GE upgrade that adds or bumps a CDN file fails here: re-run tools/vendor_data_docs_assets.py."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    urls = set()
    for template in templates.glob("*.j2"):
        urls |= {url for _, url in RESOURCE.findall(template.read_text()) if is_external(url)}
    assert urls and urls <= {asset.url for asset in VENDORED_ASSETS}, urls - {asset.url for asset in VENDORED_ASSETS}
