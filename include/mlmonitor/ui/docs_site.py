"""The Great Expectations Data Docs site as the UI serves it: resolving a request path to a file without
leaving the site folder, and rewriting pages so they load nothing from the internet.

GE 1.x writes pages that load Bootstrap, jQuery, Vega, Font Awesome ... from CDNs. The house rule is no
network at run time, so `VENDORED_ASSETS` maps each CDN URL GE writes to an exact npm package version
committed under the plugin's vendor folder (tools/vendor_data_docs_assets.py re-creates it from npm),
and `offline_page` points pages at those copies and strips any other external resource.
"""

from __future__ import annotations

import ast
import html as html_lib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

from mlmonitor.names import schema_suite_name


def docs_file(site: Path, relative: str) -> Path | None:
    """The file `relative` names inside `site` (a folder means its index.html), or None when it does not
    exist or lies outside the site (`..`, absolute paths, symlinks pointing out)."""
    root = site.resolve()
    if "\x00" in relative:
        return None
    target = (root / relative.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


@dataclass(frozen=True)
class VendoredAsset:
    """A CDN URL in GE's page templates and the file of the exact npm package version standing in for it."""

    url: str
    package: str
    version: str
    file: str

    @property
    def path(self) -> str:
        """Where the file lies inside the vendor folder."""
        return f"{self.package}/{self.version}/{self.file}"


_BT = "https://unpkg.com/bootstrap-table"
_FC = "dist/extensions/filter-control/bootstrap-table-filter-control"
# Every resource URL in great_expectations/render/view/templates (GE 1.x). jsdelivr's `vega@5`, `vega-lite@5`
# and `vega-embed@6` are floating ranges: they are pinned to the newest release of that major version on
# 2026-11-25 (vega 5.33.1, vega-lite 5.23.0, vega-embed 6.29.0), the file jsdelivr serves for a bare package.
VENDORED_ASSETS: tuple[VendoredAsset, ...] = (
    VendoredAsset("https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css", "bootstrap", "4.3.1",
                  "dist/css/bootstrap.min.css"),
    VendoredAsset("https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js", "bootstrap", "4.3.1",
                  "dist/js/bootstrap.min.js"),
    VendoredAsset("https://code.jquery.com/jquery-3.7.1.min.js", "jquery", "3.7.1", "dist/jquery.min.js"),
    VendoredAsset("https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js", "popper.js", "1.12.9",
                  "dist/umd/popper.min.js"),
    VendoredAsset("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
                  "@fortawesome/fontawesome-free", "6.6.0", "css/all.min.css"),
    VendoredAsset("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
                  "bootstrap-datepicker", "1.9.0", "dist/css/bootstrap-datepicker.min.css"),
    VendoredAsset("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
                  "bootstrap-datepicker", "1.9.0", "dist/js/bootstrap-datepicker.min.js"),
    VendoredAsset(f"{_BT}@1.19.1/dist/bootstrap-table.min.css", "bootstrap-table", "1.19.1",
                  "dist/bootstrap-table.min.css"),
    VendoredAsset(f"{_BT}@1.19.1/dist/bootstrap-table.min.js", "bootstrap-table", "1.19.1",
                  "dist/bootstrap-table.min.js"),
    VendoredAsset(f"{_BT}@1.19.1/{_FC}.min.js", "bootstrap-table", "1.19.1", f"{_FC}.min.js"),
    VendoredAsset(f"{_BT}@1.19.0/{_FC}.css", "bootstrap-table", "1.19.0", f"{_FC}.css"),
    VendoredAsset(f"{_BT}@1.19.0/{_FC}.min.css", "bootstrap-table", "1.19.0", f"{_FC}.min.css"),
    VendoredAsset("https://cdn.jsdelivr.net/npm/vega@5", "vega", "5.33.1", "build/vega.min.js"),
    VendoredAsset("https://cdn.jsdelivr.net/npm/vega-lite@5", "vega-lite", "5.23.0", "build/vega-lite.min.js"),
    VendoredAsset("https://cdn.jsdelivr.net/npm/vega-embed@6", "vega-embed", "6.29.0", "build/vega-embed.min.js"),
    VendoredAsset("https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
                  "@forevolve/bootstrap-dark", "1.1.0", "dist/css/bootstrap-prefers-dark.css"),
)  # fmt: skip
_BY_URL = {asset.url: asset for asset in VENDORED_ASSETS}

# GE's navbar logo comes from its S3 bucket (tagged with the data context id); the site has its own copy.
_GE_LOGO = re.compile(r"^https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/logo-long\.png(\?.*)?$")
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)  # http://, https://, //host, ftp:// ...
# elements whose src / href / srcset / poster / data make the browser fetch something (<a href> is a plain link)
_TAG = re.compile(  # a quoted attribute value may hold ">"
    r"""<(?P<tag>script|link|img|iframe|frame|embed|source|track|audio|video|input|object)\b"""
    r"""(?:[^>"']|"[^"]*"|'[^']*')*>""",
    re.IGNORECASE,
)
_ATTR = re.compile(
    r"""\s(?P<name>src|href|srcset|poster|data)\s*=\s*"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"'>]+))""",
    re.IGNORECASE,
)
_SCRIPT_END = re.compile(r"</script\s*>", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.IGNORECASE | re.DOTALL)
_STYLE_ATTR = re.compile(r"""(\sstyle\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(?P<url>[^)"']*)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?(?:[a-z][a-z0-9+.-]*:)?//[^;]*;""", re.IGNORECASE)


# Sent with every served page. `sandbox` gives the page an opaque origin: its scripts (GE's pages need
# inline ones, and Vega compiles expressions) run, but cannot read Airflow's cookies, storage or pages or
# call its API with the viewer's session. Links may open new tabs, outside the sandbox. Should anything
# external survive the rewrite (a URL built by a script), the browser refuses to load it.
CONTENT_SECURITY_POLICY = (
    "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox; "
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'none'; frame-ancestors 'self'"
)
Theme = Literal["auto", "light", "dark"]
THEMES: tuple[Theme, ...] = ("auto", "light", "dark")
DARK_STYLESHEET = "@forevolve/bootstrap-dark"  # the package whose stylesheet GE loads for dark systems


# ---------------------------------------------------------------- which models a path belongs to


@dataclass(frozen=True)
class Access:
    """What a Data Docs path is: the site's index, a shared static file, pages of some models, or unknown."""

    kind: Literal["index", "static", "models", "unknown"]
    models: frozenset[str] = frozenset()


def suite_models(suite: str, models: Iterable[str]) -> frozenset[str]:
    """The configured models a GE suite belongs to (`<model>` or `<model>_schema`)."""
    return frozenset(m for m in models if suite in (m, schema_suite_name(m)))


def classify(relative: str, models: Iterable[str]) -> Access:
    """Which models' data a site path shows. Unknown layouts and suites of no configured model are
    `unknown` (refused): every path is decided, nothing is served by default."""
    known = list(models)
    parts = [p for p in relative.strip("/").split("/") if p]
    if not parts or parts == ["index.html"]:
        return Access("index")
    head = parts[0]
    if head == "static" and len(parts) > 1:
        return Access("static")
    if head == "mlmonitor" and len(parts) == 2 and parts[1].endswith(".html"):
        name = parts[1].removesuffix(".html")
        return Access("models", frozenset({name})) if name in known else Access("unknown")
    if head == "expectations" and len(parts) == 2 and parts[1].endswith(".html"):
        owners = suite_models(parts[1].removesuffix(".html"), known)
        return Access("models", owners) if owners else Access("unknown")
    if head == "validations" and len(parts) >= 3:
        owners = suite_models(parts[1], known)
        return Access("models", owners) if owners else Access("unknown")
    return Access("unknown")


def allowed(access: Access, readable: Iterable[str]) -> bool:
    """Whether a user who may read `readable` models may see the path (every owner of a suite shared by
    several models must be readable)."""
    if access.kind in ("index", "static"):
        return True
    return access.kind == "models" and access.models <= set(readable)


# GE's index page keeps its two tables' rows as Python-literal lists in `data: [...]` script arguments
_INDEX_DATA = re.compile(r"(\bdata:\s*)(\[.*?\])(,\s*\n\s*toolbar:)", re.DOTALL)
_SUITE_LINK = re.compile(r"(?:validations|expectations)/([^/]+?)(?:\.html)?/")


def _row_suite(row: dict[str, Any]) -> str | None:
    suite = row.get("_expectation_suite_name_sort")
    if isinstance(suite, str):
        return suite
    path = row.get("_table_row_link_path")
    if isinstance(path, str):
        found = _SUITE_LINK.match(unquote(path) + "/")
        return found.group(1) if found else None
    return None


def filter_index(page: str, models: Iterable[str], readable: Iterable[str]) -> str | None:
    """GE's index page with only the rows of suites the user may read, or None when its layout is not
    the one expected (the caller then serves a list of its own instead: never the unfiltered page)."""
    known, can = list(models), set(readable)
    found = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal found
        try:
            rows = ast.literal_eval(match.group(2))
        except (ValueError, SyntaxError) as exc:
            raise _Unparsable from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _Unparsable
        found += 1
        shown = [r for r in rows if _readable(_row_suite(r), known, can)]
        literal = json.dumps(shown).replace("</", "<\\/")
        return match.group(1) + literal + match.group(3)

    try:
        filtered = _INDEX_DATA.sub(keep, page)
    except _Unparsable:
        return None
    return filtered if found else None


class _Unparsable(Exception):
    pass


def _readable(suite: str | None, known: list[str], can: set[str]) -> bool:
    owners = suite_models(suite, known) if suite else frozenset()
    return bool(owners) and owners <= can


def model_list_page(readable: Iterable[str]) -> str:
    """The site index for a user, when GE's cannot be filtered: the validation list of each model."""
    items = "".join(f'<li><a href="mlmonitor/{quote(m)}.html">{html_lib.escape(m)}</a></li>' for m in sorted(readable))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data Docs</title></head><body>'
        f"<h1>Data Docs</h1><p>Validations by model:</p><ul>{items or '<li>none</li>'}</ul></body></html>"
    )


def is_external(url: str) -> bool:
    """Whether loading `url` would leave the server (an absolute or protocol-relative URL)."""
    return bool(_EXTERNAL.match(url))


def offline_css(css: str) -> str:
    """`css` without external `url(...)` references (replaced by `none`) or `@import`s of external sheets."""
    css = _CSS_IMPORT.sub("", css)
    return _CSS_URL.sub(lambda m: "none" if is_external(m.group("url")) else m.group(0), css)


def _fetches_externally(name: str, value: str) -> bool:
    if name == "srcset":
        return any(is_external(part.strip().split()[0]) for part in value.split(",") if part.strip())
    return is_external(value)


def _local_url(tag: str, attr: str, value: str, static_base: str, docs_base: str) -> str | None:
    """The local stand-in for an external resource, or None when there is none."""
    asset = _BY_URL.get(value.strip())
    if asset is not None and attr in ("src", "href"):
        return f"{static_base}/vendor/{asset.path}"
    if tag == "img" and attr == "src" and _GE_LOGO.match(value.strip()):
        return f"{docs_base}/static/images/logo-long.png"
    return None


# GE's newsletter footer and its "how to" call-to-action footer: marketing, and over the results table
_HIDE_FOOTERS = "<style>footer,#ge-cta-footer{display:none!important}</style>"


def offline_page(html: str, static_base: str, docs_base: str, theme: Theme = "auto") -> str:
    """A Data Docs page that loads nothing from the internet, in the viewer's theme, without GE's footers.

    CDN scripts and stylesheets in `VENDORED_ASSETS` point at `static_base`/vendor/... (their `integrity`
    attributes stay: the vendored files are byte-identical to what GE pinned), GE's S3 logo at the site's
    own `docs_base`/static/images/logo-long.png. Any other external <script> or <link> element is removed,
    other external src/srcset/poster/data attributes are dropped and external `url(...)` in inline CSS
    becomes `none`. Plain hyperlinks (`<a href>`) stay. `theme` light drops GE's dark stylesheet (which
    follows the system), dark keeps it applied always (served rewritten by `always_dark`); auto leaves
    the system's choice.
    """
    static_base, docs_base = static_base.rstrip("/"), docs_base.rstrip("/")
    out: list[str] = []
    pos = 0
    for match in _TAG.finditer(html):
        if match.start() < pos:  # inside a removed <script> element
            continue
        out.append(html[pos : match.start()])
        pos = match.end()
        tag, text, remove = match.group("tag").lower(), match.group(0), False
        for attr in _ATTR.finditer(match.group(0)):
            name = attr.group("name").lower()
            value = next(v for v in (attr.group("dq"), attr.group("sq"), attr.group("bare")) if v is not None)
            if not _fetches_externally(name, value):
                continue
            asset = _BY_URL.get(value.strip())
            if asset is not None and asset.package == DARK_STYLESHEET and theme != "auto":
                remove = theme == "light"
                text = re.sub(r"\sintegrity\s*=\s*(\"[^\"]*\"|'[^']*')", "", text)  # rewritten when dark
            local = _local_url(tag, name, value, static_base, docs_base)
            if local is not None:
                text = text.replace(attr.group(0), f' {attr.group("name")}="{local}"', 1)
            elif tag in ("script", "link"):
                remove = True
            else:
                text = text.replace(attr.group(0), "", 1)
        if not remove:
            out.append(text)
        elif tag == "script":  # an external script's body is never run: drop it with the end tag
            end = _SCRIPT_END.search(html, pos)
            pos = end.end() if end else len(html)
    out.append(html[pos:])
    page = "".join(out)
    page = _STYLE_BLOCK.sub(lambda m: m.group(1) + offline_css(m.group(2)) + m.group(3), page)
    page = _STYLE_ATTR.sub(lambda m: m.group(1) + m.group(2) + offline_css(m.group(3)) + m.group(2), page)
    head_end = re.search(r"</head\s*>", page, re.IGNORECASE)
    if head_end:
        page = page[: head_end.start()] + _HIDE_FOOTERS + page[head_end.start() :]
    return page


def always_dark(css: str) -> str:
    """GE's dark stylesheet (rules under `prefers-color-scheme: dark`) applied whatever the system says:
    the condition becomes one that always holds, also inside combined queries (`print and (...)`)."""
    return re.sub(r"\(\s*prefers-color-scheme\s*:\s*dark\s*\)", "(min-width: 0)", css)
