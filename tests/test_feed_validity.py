"""Every feed of a generated corpus (site, each category, each tag; RSS, Atom, JSON Feed) is
valid: the Atom RELAX NG grammar (RFC 4287 Appendix B), the JSON Feed 1.1 schema with format
checking, feedparser without bozo, lxml without recovery, and the W3C Feed Validation Service's
rules that can be checked offline (listed per check below)."""

from __future__ import annotations

import email.utils
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import gen_corpus
import jsonschema
import pytest
from conftest import EDGE_CONTENT, SITE_URL
from flask import Flask
from lxml import etree

from feedsvc.app import create_app

SCHEMAS = Path(__file__).parent / "schemas"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_NS = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
RELAXNG = etree.RelaxNG(etree.parse(str(SCHEMAS / "atom.rng")))
JSON_SCHEMA = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text())
JSON_VALIDATOR = jsonschema.Draft7Validator(JSON_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
# RFC 822 section 5 as RSS 2.0 uses it (4-digit years), with a numeric zone or GMT
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} ([+-]\d{4}|GMT|UT)$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LIMIT = 20
PAGE = 5  # FEEDSVC_ARCHIVE_PAGE_SIZE of the corpus app: most feeds have archive pages
HISTORY = "{http://purl.org/syndication/history/1.0}"


@dataclass
class Doc:
    kind: str
    name: str
    fmt: str
    url: str  # absolute, under SITE_URL
    body: bytes
    content_type: str
    posts: int  # how many posts the feed has in all
    page: int = 0  # the RFC 5005 archive page; 0 for the current document
    current: str = ""  # the current document's URL in this format

    @property
    def items(self) -> int:
        """How many entries the document holds."""
        return PAGE if self.page else min(self.posts, LIMIT)


def site_path(url: str) -> str:
    assert url.startswith(SITE_URL + "/"), url
    return url[len(SITE_URL):]


@pytest.fixture(scope="module")
def corpus_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """70 generated posts (tests/gen_corpus.py, the project's generator) plus every edge case."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(EDGE_CONTENT, root / "edge", symlinks=True)
    gen_corpus.main([str(root / "generated"), "70", "--seed", "11", "--start-year", "2020", "--end-year", "2024"])
    return create_app({"CONTENT_DIR": str(root), "SITE_URL": SITE_URL, "TITLE": "Corpus <&> \"site\"",
                       "BUILD_WORKERS": 1, "LANGUAGE": "zh-CN", "TESTING": True,
                       "ARCHIVE_PAGE_SIZE": PAGE})


@pytest.fixture(scope="module")
def docs(corpus_app: Flask) -> list[Doc]:
    client = corpus_app.test_client()
    snapshot = corpus_app.extensions["feedsvc"].current()
    out = []
    for feed in snapshot.index.feed_list():
        for fmt, filename in (("rss", "rss.xml"), ("atom", "atom.xml"), ("json", "feed.json")):
            current = f"{SITE_URL}{feed.path}/{filename}"
            urls = [current] + [f"{SITE_URL}/archive{feed.path}/{n}/{filename}" for n in range(1, len(feed.posts) // PAGE + 1)]
            for page, url in enumerate(urls):
                resp = client.get(site_path(url))
                assert resp.status_code == 200, (url, resp.data[:200])
                out.append(Doc(feed.key.kind, feed.name, fmt, url, resp.data, resp.content_type, len(feed.posts), page, current))
    return out


@pytest.fixture(scope="module")
def parsed(docs: list[Doc]) -> dict[str, Any]:
    """feedparser's reading of every RSS and Atom document, by URL (parsed once)."""
    return {d.url: feedparser.parse(d.body, response_headers={"content-type": d.content_type})
            for d in docs if d.fmt != "json"}


def of(docs: list[Doc], fmt: str) -> Iterator[Doc]:
    return (d for d in docs if d.fmt == fmt)


def test_corpus_has_every_kind_of_feed(docs: list[Doc]) -> None:
    kinds = {d.kind for d in docs}
    assert kinds == {"site", "category", "tag", "author"}
    names = {d.name.casefold() for d in docs}
    for hostile in ("a/b", "what?", "c#", "with space", "<script>x</script>", "..", "南开大学", "100%", "C/C++"):
        assert hostile.casefold() in names
    assert len(docs) > 150
    assert sum(1 for d in docs if d.page) > 100


# ---------------------------------------------------------------- every format


def test_every_xml_document_parses_with_feedparser_without_bozo(docs: list[Doc], parsed: dict[str, Any]) -> None:
    """feedparser 6 reads RSS and Atom (not JSON Feed: that is parsed with json + the schema)."""
    for doc in docs:
        if doc.fmt == "json":
            continue
        result = parsed[doc.url]
        assert not result.bozo, (doc.url, result.get("bozo_exception"))
        assert result.entries, doc.url
        assert len(result.entries) == doc.items
        assert result.feed.title
        for entry in result.entries:
            assert entry.title and entry.link and entry.id, doc.url


def test_content_types(docs: list[Doc]) -> None:
    expected = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8",
                "json": "application/feed+json; charset=utf-8"}
    for doc in docs:
        assert doc.content_type == expected[doc.fmt]


# ---------------------------------------------------------------- Atom


def xml(doc: Doc) -> etree._Element:
    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    assert doc.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") or doc.body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>'), doc.body[:60]
    return etree.fromstring(doc.body, parser)


def test_atom_is_valid_against_the_rfc4287_grammar(docs: list[Doc]) -> None:
    for doc in of(docs, "atom"):
        root = xml(doc)
        assert RELAXNG.validate(etree.ElementTree(root)), (doc.url, RELAXNG.error_log.last_error)


def test_atom_rules_beyond_the_grammar(docs: list[Doc]) -> None:
    """RFC 4287 4.1.1 (author, id, title, updated; self link: W3C "Missing atom:link with
    rel=self"), 4.1.2 (entry id, title, updated; one alternate link per type), 3.3 (dates with
    a zone), unique entry ids (W3C "duplicate entry id")."""
    for doc in of(docs, "atom"):
        root = xml(doc)
        assert root.tag == f"{ATOM}feed"
        assert root.findtext(f"{ATOM}id") == doc.current.rsplit("/", 1)[0] + "/"  # the feed's folder URL, in every page
        assert root.findtext(f"{ATOM}title")
        assert root.find(f"{ATOM}author/{ATOM}name").text
        selfs = [ln.get("href") for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "self"]
        assert selfs == [doc.url]
        entries = root.findall(f"{ATOM}entry")
        ids = [e.findtext(f"{ATOM}id") for e in entries]
        assert len(ids) == len(set(ids)), doc.url
        dates = []
        for entry in entries:
            for tag in ("updated", "published"):
                assert RFC3339.match(entry.findtext(f"{ATOM}{tag}")), doc.url
            dates.append(entry.findtext(f"{ATOM}updated"))
            alternates = [ln for ln in entry.findall(f"{ATOM}link") if ln.get("rel", "alternate") == "alternate"]
            assert len(alternates) == 1 and urlsplit(alternates[0].get("href")).scheme in ("http", "https")
            assert urlsplit(entry.findtext(f"{ATOM}id")).scheme, "an IRI (RFC 4287 4.2.6)"
            assert entry.find(f"{ATOM}content").get("type") == "html"
        assert RFC3339.match(root.findtext(f"{ATOM}updated"))
        newest = max(datetime.fromisoformat(d) for d in dates)
        assert datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == newest


# ---------------------------------------------------------------- RSS


def rfc822(text: str | None) -> datetime:
    assert text and RFC822.match(text), text
    return email.utils.parsedate_to_datetime(text)


def test_rss_rules(docs: list[Doc]) -> None:
    """RSS 2.0 spec and the W3C validator: required channel title/link/description; guid
    isPermaLink only for a URL that is the item's link; RFC 822 dates; <author> only with an
    e-mail (names go to dc:creator); atom:link rel=self equal to the document's URL; items
    have a title or description; content:encoded."""
    for doc in of(docs, "rss"):
        root = xml(doc)
        assert root.tag == "rss" and root.get("version") == "2.0"
        channels = root.findall("channel")
        assert len(channels) == 1
        ch = channels[0]
        for tag in ("title", "link", "description"):
            assert len(ch.findall(tag)) == 1 and ch.findtext(tag), (doc.url, tag)
        assert urlsplit(ch.findtext("link")).scheme == "https"
        assert ch.findtext("language") == "zh-CN"
        selfs = [ln.get("href") for ln in ch.findall(f"{ATOM}link") if ln.get("rel") == "self"]
        assert selfs == [doc.url]
        assert all(ln.get("type") in (None, "application/rss+xml") for ln in ch.findall(f"{ATOM}link")
                   if ln.get("rel") == "self")
        items = ch.findall("item")
        dates = [_check_rss_item(doc, item) for item in items]
        assert dates == sorted(dates, reverse=True), "newest first"
        assert rfc822(ch.findtext("lastBuildDate")) >= dates[0]


def _check_rss_item(doc: Doc, item: etree._Element) -> datetime:
    assert item.findtext("title"), doc.url
    link = item.findtext("link")
    assert urlsplit(link).scheme in ("http", "https")
    guid = item.find("guid")
    assert guid is not None and guid.text
    is_permalink = guid.get("isPermaLink", "true") == "true"
    if is_permalink:
        assert guid.text == link, (doc.url, guid.text, link)
    else:
        assert guid.get("isPermaLink") == "false"
    for author in item.findall("author"):
        assert re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+( \(.*\))?$", author.text or ""), "RSS author must be an e-mail"
    assert item.find(f"{CONTENT_NS}encoded") is not None
    assert item.findtext("description")
    return rfc822(item.findtext("pubDate"))


def test_rss_guids_are_unique_per_feed(docs: list[Doc]) -> None:
    for doc in of(docs, "rss"):
        guids = [g.text for g in xml(doc).iter("guid")]
        assert len(guids) == len(set(guids)), doc.url


# ---------------------------------------------------------------- JSON Feed


def test_json_feed_is_valid_against_the_1_1_schema_with_formats(docs: list[Doc]) -> None:
    for doc in of(docs, "json"):
        feed = json.loads(doc.body)
        errors = sorted(JSON_VALIDATOR.iter_errors(feed), key=str)
        assert not errors, (doc.url, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:3]])


def test_json_feed_rules(docs: list[Doc]) -> None:
    """JSON Feed 1.1: version, title, feed_url = this URL; item ids unique strings; summary is
    plain text; dates RFC 3339."""
    for doc in of(docs, "json"):
        feed = json.loads(doc.body)
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert feed["feed_url"] == doc.current  # an archive page is a document of the same feed
        assert feed.get("next_url") != feed["feed_url"]
        ids = [item["id"] for item in feed["items"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, str) for i in ids)
        for item in feed["items"]:
            assert RFC3339.match(item["date_published"]) and RFC3339.match(item["date_modified"])
            # plain text: no markup of the rendered body (the text itself may say "<summary>")
            assert not re.search(r"</?(p|a|em|strong|img|div)\b", item.get("summary", "")), item["summary"]
            assert "content_html" in item


def test_the_format_checker_really_checks() -> None:
    """Guard: with a broken URL or date the schema must fail, or the test above proves nothing."""
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "home_page_url": "not a url",
            "items": [{"id": "1", "content_text": "x", "date_published": "yesterday"}]}
    assert len(list(JSON_VALIDATOR.iter_errors(feed))) == 2


# ---------------------------------------------------------------- content of items


def test_same_post_same_id_in_every_format_and_feed(docs: list[Doc], parsed: dict[str, Any]) -> None:
    by_post: dict[tuple[str, str], set[str]] = {}
    for doc in docs:
        if doc.fmt == "json":
            entries = [(i["url"], i["title"], i["id"]) for i in json.loads(doc.body)["items"]]
        else:
            entries = [(e.link, e.title, e.id) for e in parsed[doc.url].entries]
        for link, title, uid in entries:
            by_post.setdefault((link, title), set()).add(uid)
    for post, ids in by_post.items():
        assert len(ids) == 1, (post, ids)


def test_hostile_post_content_is_escaped_everywhere(docs: list[Doc], parsed: dict[str, Any]) -> None:
    seen = 0
    for doc in docs:
        if doc.fmt == "json":
            items = [(i["title"], i["content_html"]) for i in json.loads(doc.body)["items"]]
        else:
            items = [(e.title, e.content[0].value) for e in parsed[doc.url].entries]
        for title, html in items:
            if title == "Hostile HTML":
                seen += 1
                lowered = html.lower()
                assert "<script" not in lowered and "javascript:" not in lowered and "onerror" not in lowered
                assert "<iframe" not in lowered and "alert(" not in lowered
    assert seen >= 3  # the site feed in three formats at least
    site_rss = next(d for d in docs if d.kind == "site" and d.fmt == "rss")
    assert b"<script>" not in site_rss.body


def test_categories_and_tags_carried(corpus_app: Flask) -> None:
    resp = corpus_app.test_client().get("/tags/a%2Fb/atom.xml")
    root = etree.fromstring(resp.data)
    entry = root.find(f"{ATOM}entry")
    terms = {c.get("term"): c.get("scheme") for c in entry.findall(f"{ATOM}category")}
    assert terms["a/b"] == f"{SITE_URL}/tags/"
    assert terms["C/C++"] == f"{SITE_URL}/categories/"
    item = json.loads(corpus_app.test_client().get("/tags/a%2Fb/feed.json").data)["items"][0]
    assert item["_feedsvc"]["tags"][0] == "a/b" and "C/C++" in item["tags"]


def test_author_is_dc_creator_in_rss_and_author_in_atom_and_json(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    rss = _entry(etree.fromstring(client.get("/tags/authored/rss.xml").data), "Has an author")
    atom = _entry(etree.fromstring(client.get("/tags/authored/atom.xml").data), "Has an author")
    jf = json.loads(client.get("/tags/authored/feed.json").data)
    assert [e.text for e in rss.iter(f"{DC}creator")] == ["乔仁铭"]
    assert rss.find("author") is None  # RSS <author> must be an e-mail address
    assert next(i for i in jf["items"] if i["title"] == "Has an author")["authors"] == [{"name": "乔仁铭"}]
    assert atom.findtext(f"{ATOM}author/{ATOM}name") == "乔仁铭"


def test_feed_level_items_and_limit(corpus_app: Flask) -> None:
    site = json.loads(corpus_app.test_client().get("/feed.json").data)
    assert len(site["items"]) == LIMIT
    dates = [i["date_published"] for i in site["items"]]
    assert dates == sorted(dates, reverse=True)
    assert site["language"] == "zh-CN" and site["title"] == 'Corpus <&> "site"'


def test_items_carry_summary_and_content(corpus_app: Flask) -> None:
    atom = etree.fromstring(corpus_app.test_client().get("/atom.xml").data)
    for entry in atom.findall(f"{ATOM}entry"):
        assert entry.find(f"{ATOM}content").text
        assert entry.find(f"{ATOM}summary") is not None
    rss = etree.fromstring(corpus_app.test_client().get("/rss.xml").data)
    for item in rss.iter("item"):
        assert item.findtext("description") and item.findtext(f"{CONTENT_NS}encoded")


def test_empty_site_feeds_are_valid(make_app: Any) -> None:
    client = make_app().test_client()
    atom = client.get("/atom.xml")
    assert atom.status_code == 200
    assert RELAXNG.validate(etree.ElementTree(etree.fromstring(atom.data))), RELAXNG.error_log.last_error
    assert not feedparser.parse(client.get("/rss.xml").data).bozo
    assert not list(JSON_VALIDATOR.iter_errors(json.loads(client.get("/feed.json").data)))


@pytest.mark.parametrize("settings", [
    {"TITLE": "a\x01b", "DESCRIPTION": "d\x0b", "AUTHOR": "x\x02"},
    {"TITLE": "", "DESCRIPTION": "", "AUTHOR": ""},
    {"TITLE": "2022", "DESCRIPTION": "<p>&</p>", "LANGUAGE": "zh-Hans-CN"},
])
def test_odd_settings_text_still_gives_valid_feeds(make_app: Any, write_post: Any, settings: dict[str, str]) -> None:
    write_post("a.md", title="A", tags=["t"])
    client = make_app(**settings).test_client()
    for path in ("/atom.xml", "/tags/t/atom.xml"):
        root = etree.fromstring(client.get(path).data)
        assert RELAXNG.validate(etree.ElementTree(root)), RELAXNG.error_log.last_error
    for path in ("/rss.xml", "/tags/t/rss.xml"):
        parsed = feedparser.parse(client.get(path).data)
        assert not parsed.bozo and parsed.feed.title and parsed.feed.description
    assert not list(JSON_VALIDATOR.iter_errors(json.loads(client.get("/feed.json").data)))
    etree.fromstring(client.get("/opml.xml").data)


# ---------------------------------------------------------------- authors, media, attachments, language

MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _entry(root: etree._Element, title: str) -> etree._Element:
    return next(e for e in root.iter(f"{ATOM}entry", "item") if e.findtext(f"{ATOM}title", e.findtext("title")) == title)


def test_author_feeds_exist_for_every_author_with_their_posts(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    jf = json.loads(client.get("/authors/%E4%B9%94%E4%BB%81%E9%93%AD/feed.json").data)
    assert {i["title"] for i in jf["items"]} == {"Has an author", "Two authors"}
    assert jf["authors"] == [{"name": "乔仁铭"}] and jf["description"].startswith("Posts by 乔仁铭")
    assert client.get("/authors/ADA%20LOVELACE/rss.xml").status_code == 200  # names match like tags
    assert client.get("/authors/Grace/atom.xml").status_code == 200
    missing = client.get("/authors/nobody/rss.xml")
    assert missing.status_code == 404 and b"No author named" in missing.data
    assert b"/authors/Ada%20Lovelace/rss.xml" in client.get("/opml.xml").data


def test_several_authors_in_every_format(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    atom = _entry(etree.fromstring(client.get("/tags/authored/atom.xml").data), "Two authors")
    people = [(a.findtext(f"{ATOM}name"), a.findtext(f"{ATOM}uri"), a.findtext(f"{ATOM}email"))
              for a in atom.findall(f"{ATOM}author")]
    assert people == [("乔仁铭", None, None), ("Ada Lovelace", f"{SITE_URL}/about/ada/", "ada@example.org")]
    rss = _entry(etree.fromstring(client.get("/tags/authored/rss.xml").data), "Two authors")
    assert [c.text for c in rss.findall(f"{DC}creator")] == ["乔仁铭", "Ada Lovelace"]
    assert rss.find("author") is None  # W3C: author beside dc:creator is duplicate semantics
    item = next(i for i in json.loads(client.get("/tags/authored/feed.json").data)["items"] if i["title"] == "Two authors")
    assert item["authors"] == [{"name": "乔仁铭"}, {"name": "Ada Lovelace", "url": f"{SITE_URL}/about/ada/"}]


def test_images_become_media_thumbnail_and_json_image(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    expected = {
        "Image given, relative": f"{SITE_URL}/2024/04/18/with-image/img/cover.png",  # front matter wins
        "Cover key": "https://cdn.example.org/c.jpg?a=1&b=2",
        "Image from the body": f"{SITE_URL}/img/diagram.svg",  # the first image of the body
    }
    rss = etree.fromstring(client.get("/tags/media/rss.xml").data)
    atom = etree.fromstring(client.get("/tags/media/atom.xml").data)
    items = {i["title"]: i for i in json.loads(client.get("/tags/media/feed.json").data)["items"]}
    for title, url in expected.items():
        for root in (rss, atom):
            assert [t.get("url") for t in _entry(root, title).iter(f"{MEDIA}thumbnail")] == [url], title
        assert items[title]["image"] == url
    assert "image" not in items["Podcast episode"]
    assert _entry(rss, "Podcast episode").find(f"{MEDIA}thumbnail") is None


def test_enclosures_in_every_format(corpus_app: Flask) -> None:
    """RSS: one <enclosure> with url, length and type (W3C); Atom: every file as link
    rel=enclosure; JSON Feed: attachments. A missing length is 0 in RSS only."""
    client = corpus_app.test_client()
    rss = etree.fromstring(client.get("/tags/media/rss.xml").data)
    atom = etree.fromstring(client.get("/tags/media/atom.xml").data)
    items = {i["title"]: i for i in json.loads(client.get("/tags/media/feed.json").data)["items"]}
    podcast = _entry(rss, "Podcast episode").findall("enclosure")
    assert [dict(e.attrib) for e in podcast] == [{"url": "https://cdn.example.org/ep1.mp3", "length": "12345678",
                                                  "type": "audio/mpeg"}]
    pdf = f"{SITE_URL}/2024/04/22/notice/files/notice.pdf"
    assert [e.get("url") for e in _entry(rss, "PDF notice").findall("enclosure")] == [pdf]
    links = [dict(ln.attrib) for ln in _entry(atom, "PDF notice").findall(f"{ATOM}link") if ln.get("rel") == "enclosure"]
    assert links == [{"rel": "enclosure", "href": pdf, "type": "application/pdf", "length": "2048", "title": "通知"},
                     {"rel": "enclosure", "href": "https://cdn.example.org/notice.docx", "type": "application/octet-stream"}]
    assert items["Podcast episode"]["attachments"] == [{"url": "https://cdn.example.org/ep1.mp3", "mime_type": "audio/mpeg",
                                                        "title": "Episode 1", "size_in_bytes": 12345678,
                                                        "duration_in_seconds": 3723.0}]
    bare = _entry(rss, "Enclosure without length or type").find("enclosure")
    assert dict(bare.attrib) == {"url": "https://cdn.example.org/talk.ogg", "length": "0", "type": "audio/ogg"}
    for doc in (rss, atom):
        assert feedparser.parse(etree.tostring(doc)).entries


def test_every_rss_enclosure_has_url_length_and_type_once_per_item(docs: list[Doc]) -> None:
    """W3C: an RSS enclosure needs url, length and type (length a number), one per item."""
    seen = 0
    for doc in of(docs, "rss"):
        for item in xml(doc).iter("item"):
            enclosures = item.findall("enclosure")
            assert len(enclosures) <= 1, doc.url
            for enc in enclosures:
                seen += 1
                assert urlsplit(enc.get("url")).scheme in ("http", "https")
                assert enc.get("length", "").isdigit() and re.match(r"^[\w.+-]+/[\w.+-]+$", enc.get("type", ""))
    assert seen >= 3


def test_missing_length_or_type_is_a_warning_not_an_invalid_feed(corpus_app: Flask) -> None:
    warnings = json.loads(corpus_app.test_client().get("/healthz").data)["warnings"]
    mine = {(w["path"], w["reason"].split(":")[-1].strip()) for w in warnings if "enclosure-missing" in w["path"]}
    assert mine == {("edge/enclosure-missing-length-type.md", 'no length in bytes; RSS says length="0"'),
                    ("edge/enclosure-missing-length-type.md", "no type; served as audio/ogg")}


def test_entry_language_from_front_matter(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    atom = etree.fromstring(client.get("/tags/lang/atom.xml").data)
    assert _entry(atom, "English post").get(XML_LANG) == "en-US"
    assert _entry(atom, "Invalid language").get(XML_LANG) is None  # the feed's zh-CN applies
    items = {i["title"]: i for i in json.loads(client.get("/tags/lang/feed.json").data)["items"]}
    assert items["English post"]["language"] == "en-US" and "language" not in items["Invalid language"]
    parsed = feedparser.parse(client.get("/tags/lang/atom.xml").data)
    assert not parsed.bozo


# ---------------------------------------------------------------- RFC 5005 archived feeds


def _history_links(doc: Doc) -> dict[str, list[str]]:
    """rel -> hrefs of the document's RFC 5005 links (atom:link in RSS; next_url in JSON Feed)."""
    if doc.fmt == "json":
        feed = json.loads(doc.body)
        return {"prev-archive": [feed["next_url"]] if "next_url" in feed else []}
    root = xml(doc)
    parent = root if doc.fmt == "atom" else root.find("channel")
    out: dict[str, list[str]] = {}
    for link in parent.findall(f"{ATOM}link"):
        out.setdefault(link.get("rel", "alternate"), []).append(link.get("href"))
    return out


def test_archive_links_chain_from_the_current_document_to_page_one(docs: list[Doc]) -> None:
    """RFC 5005 section 4: the current document links to the newest archive page, each page to
    the one before and to the current document; pages carry fh:archive, current ones do not."""
    by_url = {d.url: d for d in docs}
    for doc in docs:
        links = _history_links(doc)
        pages = doc.posts // PAGE
        before = doc.page - 1 if doc.page else pages
        expected = [u for u in by_url if u.endswith(f"/{before}/{doc.url.rsplit('/', 1)[1]}")
                    and by_url[u].current == doc.current and by_url[u].page == before] if before else []
        assert links.get("prev-archive", []) == expected, doc.url
        if doc.fmt != "json":
            assert links.get("current", []) == ([doc.current] if doc.page else []), doc.url
            assert links["self"] == [doc.url]
            marks = xml(doc).iter(f"{HISTORY}archive")
            assert len(list(marks)) == (1 if doc.page else 0), doc.url
        if doc.page:
            assert "hub" not in links  # an archive page is not a WebSub topic


def test_archive_pages_hold_each_post_once_and_cover_the_feed(docs: list[Doc], parsed: dict[str, Any]) -> None:
    for fmt in ("rss", "atom", "json"):
        feeds: dict[str, list[Doc]] = {}
        for doc in of(docs, fmt):
            feeds.setdefault(doc.current, []).append(doc)
        for current, pages in feeds.items():
            ids: list[str] = []
            for doc in sorted(pages, key=lambda d: d.page):
                if doc.page:
                    ids += ([i["id"] for i in json.loads(doc.body)["items"]] if fmt == "json"
                            else [e.id for e in parsed[doc.url].entries])
            assert len(ids) == len(set(ids)), current
            assert len(ids) == (pages[0].posts // PAGE) * PAGE


def test_archive_pages_have_a_long_max_age_and_current_documents_do_not(corpus_app: Flask) -> None:
    client = corpus_app.test_client()
    page = client.get("/archive/1/atom.xml")
    # shared caches keep an archive page as long as readers do: no s-maxage (tests/test_cache_control.py)
    assert page.headers["Cache-Control"] == "public, max-age=86400, stale-while-revalidate=30, stale-if-error=86400"
    assert client.get("/atom.xml").headers["Cache-Control"] == \
        "public, max-age=300, s-maxage=10, stale-while-revalidate=30, stale-if-error=86400"
    again = client.get("/archive/1/atom.xml", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304
    for missing in ("/archive/0/rss.xml", "/archive/999/rss.xml", "/archive/tags/nope/1/rss.xml",
                    "/archive/authors/Grace/1/atom.xml"):
        assert client.get(missing).status_code == 404, missing
