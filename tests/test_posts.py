"""Post parsing: one committed file per edge case (tests/content/, made by tests/make_content.py),
plus cases generated here (huge file, symlinks, time zones)."""

from __future__ import annotations

import json
import os
import re
import resource
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EDGE_CONTENT, SITE_URL, post_text, write_file

from feedsvc import posts as posts_module
from feedsvc.config import load_settings
from feedsvc.index import build_index
from feedsvc.loader import ContentLoader, scan
from feedsvc.markup import render_body
from feedsvc.posts import Post, PostError, _TextKeysLoader, parse_post, read_post

SETTINGS = load_settings({"SITE_URL": SITE_URL})
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def read(name: str, settings: Any = SETTINGS) -> Post:
    return read_post(str(EDGE_CONTENT / name), name, settings)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------- bad posts: path + one-line reason

BAD_REASONS = {
    "bad-no-front-matter.md": "no front matter",
    "bad-unterminated.md": "not closed",
    "bad-invalid-yaml.md": "invalid YAML",
    "bad-invalid-toml.md": "invalid TOML",
    "bad-not-a-mapping.md": "not a mapping",
    "bad-no-title.md": "no title",
    "bad-empty-title.md": "no title",
    "bad-title-list.md": "title must be text",
    "bad-date-unparseable.md": "unparseable date",
    "bad-not-utf8.md": "not UTF-8",
    "bad-empty-file.md": "empty file",
    "bad-alias-bomb.md": "too large or too deeply nested",
    "bad-deep-nesting.md": "nest",
    "bad-deep-nesting-block.md": "too deeply nested",
}


def test_every_bad_file_has_an_expected_reason() -> None:
    on_disk = {p.name for p in EDGE_CONTENT.glob("bad-*")}
    assert on_disk == set(BAD_REASONS)


@pytest.mark.parametrize(("name", "reason"), sorted(BAD_REASONS.items()))
def test_bad_post_is_refused_with_path_and_one_line_reason(name: str, reason: str) -> None:
    with pytest.raises(PostError) as info:
        read(name)
    err = info.value
    assert err.path == name
    assert reason.lower() in err.reason.lower()
    assert "\n" not in err.reason and len(err.reason) < 200
    assert str(err).startswith(f"{name}: ")


def test_yaml_error_names_the_file_line() -> None:
    text = "---\ntitle: ok\nkey: value: another\n---\nbody\n"
    with pytest.raises(PostError, match="at line 3$"):
        parse_post(text.encode(), "x.md", SETTINGS)
    with pytest.raises(PostError, match="at line 3$"):
        parse_post(text.replace("\n", "\r\n").encode(), "x.md", SETTINGS)


def test_alias_bomb_is_refused_quickly_and_small() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PostError):
        read("bad-alias-bomb.md")
    # 9**9 leaves would be gigabytes; the bounded walk stops after a few thousand nodes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


@pytest.mark.parametrize("text", [
    "---\na: &a [*a]\ntitle: t\ndate: 2024-01-01\n---\n",  # a recursive alias
    "---\ntitle: &t t\ndate: 2024-01-01\nx: {a: *t}\n---\n",
    "+++\n" + "x = " + "[" * 3000 + "]" * 3000 + "\n+++\n",
    "---\n" + "x: {" * 3000 + "}" * 3000 + "\n---\n",
    "---\ntitle: !!python/object/apply:os.system ['true']\ndate: 2024-01-01\n---\n",
    "---\n? [a, b]\n: c\ntitle: t\ndate: 2024-01-01\n---\n",
    "---\ntitle: t\ndate: 2024-01-01\ndate: 2025-01-01\n---\n",
    "---\n---\n",
    "+++\n+++\n",
    "---\ntitle: {a: b}\ndate: 2024-01-01\n---\n",
    "---\ntitle: t\ndate: [2024]\n---\n",
    "---\ntitle: t\ndate: 99999-01-01\n---\n",
    "---\ntitle: t\ndate: 0001-01-01 00:00:00+14:00\n---\n",
    "---\ntitle: t\ndate: 2024-01-01\ndraft: maybe\n---\n",
    "---\ntitle: t\ndate: 2024-01-01\ntags: [[a]]\n---\n",
    "\ufeff\ufeff---\ntitle: t\n---\n",
])
def test_hostile_front_matter_is_a_post_error_never_a_crash(text: str) -> None:
    try:
        post = parse_post(text.encode("utf-8"), "h.md", SETTINGS)
    except PostError as exc:
        assert exc.reason and "\n" not in exc.reason
    else:  # accepted: then it must be sane text
        assert isinstance(post.title, str) and post.published.tzinfo is not None


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    settings = load_settings({"SITE_URL": SITE_URL, "MAX_POST_BYTES": 4096})
    path = write_file(tmp_path, "huge.md", post_text(body="x" * 10_000))
    with pytest.raises(PostError, match="larger than FEEDSVC_MAX_POST_BYTES"):
        read_post(str(path), "huge.md", settings)
    small = write_file(tmp_path, "small.md", post_text(body="x" * 100))
    assert read_post(str(small), "small.md", settings).title == "A post"


def test_default_limit_is_two_mebibytes(tmp_path: Path) -> None:
    head = post_text(body="")
    path = write_file(tmp_path, "big.md", head + "y" * (2 * 1024 * 1024 + 1 - len(head)))
    with pytest.raises(PostError, match="larger"):
        read_post(str(path), "big.md", SETTINGS)
    path.write_bytes(path.read_bytes()[:-1])  # exactly 2 MiB is allowed
    assert read_post(str(path), "big.md", SETTINGS).body.lstrip().startswith("y")


# ---------------------------------------------------------------- good posts


@pytest.mark.parametrize(("name", "title", "tags"), [
    ("bom.md", "BOM post", ("bom",)),
    ("crlf.md", "CRLF post", ("crlf",)),
    ("cr-only.md", "CR-only post", ("cr",)),
    ("toml-front-matter.md", "TOML post", ("toml", "hugo")),
])
def test_front_matter_survives_bom_crlf_cr_and_toml(name: str, title: str, tags: tuple[str, ...]) -> None:
    post = read(name)
    assert (post.title, post.tags) == (title, tags)
    assert "title" not in post.body and "---" not in post.body and "\ufeff" not in post.body


def test_toml_values() -> None:
    post = read("toml-front-matter.md")
    assert post.published == utc(2024, 1, 4, 8)
    assert post.categories == ("notes",)


@pytest.mark.parametrize(("name", "title", "tags", "categories"), [
    ("title-numeric.md", "2022", ("2024", "1.10"), ("3",)),
    ("title-bool.md", "no", ("yes", "off"), ()),
    ("tags-string.md", "Tags as a string", ("python",), ()),
    ("tags-empty.md", "Tags empty", (), ()),
    ("tags-list.md", "Tags as a list", ("python", "Feeds", "南开大学"), ()),
])
def test_yaml_typed_names_become_strings_as_written(name: str, title: str, tags: tuple, categories: tuple) -> None:
    post = read(name)
    assert (post.title, post.tags, post.categories) == (title, tags, categories)


@pytest.mark.parametrize(("name", "published"), [
    ("date-seed-form.md", utc(2022, 4, 1, 1, 22, 35, 323881)),
    ("date-only.md", utc(2024, 2, 29)),
    ("date-iso-offset.md", utc(2024, 3, 1, 2)),
    ("date-iso-offset-quoted.md", utc(2024, 3, 1, 3)),
    ("date-z.md", utc(2024, 3, 2, 10)),
])
def test_date_forms(name: str, published: datetime) -> None:
    post = read(name)
    assert post.published == published
    assert post.published.tzinfo is not None and post.updated.tzinfo is not None


@pytest.mark.parametrize(("name", "published"), [
    ("date-seed-form.md", datetime(2022, 3, 31, 17, 22, 35, 323881, tzinfo=UTC)),  # +08:00
    ("date-only.md", datetime(2024, 2, 28, 16, tzinfo=UTC)),
    ("date-iso-offset.md", utc(2024, 3, 1, 2)),  # an explicit offset wins
    ("date-z.md", utc(2024, 3, 2, 10)),
])
def test_naive_dates_are_in_the_configured_timezone(name: str, published: datetime) -> None:
    settings = load_settings({"SITE_URL": SITE_URL, "TIMEZONE": "Asia/Shanghai"})
    post = read(name, settings)
    assert post.published == published
    # the permalink's date is the local one
    if name == "date-seed-form.md":
        assert "/2022/04/01/" in post.permalink


def test_lmt_offsets_become_utc() -> None:
    """Asia/Shanghai in 1901 is +08:05:43 (LMT): RFC 822 and RFC 3339 cannot say that."""
    settings = load_settings({"SITE_URL": SITE_URL, "TIMEZONE": "Asia/Shanghai"})
    post = parse_post(post_text(date="1901-01-01 00:00:00").encode(), "old.md", settings)
    assert post.published.utcoffset().total_seconds() == 0


def test_updated_from_lastmod_and_never_before_published() -> None:
    post = read("date-updated-lastmod.md")
    assert post.updated == utc(2024, 3, 5, 10)
    older = parse_post(post_text(updated="2020-01-01").encode(), "x.md", SETTINGS)
    assert older.updated == older.published


def test_unknown_keys_are_kept_but_ignored() -> None:
    post = read("unknown-keys.md")
    assert post.extra == {"authorbox": False, "sidebar": False}


def test_control_characters_are_removed_not_fatal() -> None:
    for name in ("control-characters.md", "control-characters-raw.md"):
        post = read(name)
        for text in (post.title, *post.tags, post.body):
            assert not any(ord(c) < 32 and c not in "\t\n\r" for c in text), (name, text)
            assert "\ufffe" not in text and "\uffff" not in text
    assert read("control-characters.md").title == "Bell and nul in title"
    assert read("control-characters-raw.md").title == "Raw vertical tab and backspace"


def test_permalink_id_slug_urlname_link() -> None:
    assert read("urlname.md").permalink == f"{SITE_URL}/2024/05/07/from-urlname/"
    assert read("duplicate-slug-a.md").permalink == f"{SITE_URL}/2024/05/04/same/"
    assert read("link-permalink.md").permalink == "https://elsewhere.example/posts/explicit"
    assert read("id-given.md").declared_id == "tag:example.org,2024:id-given"
    assert read("nested/folder/deep-post.md").slug == "deep-post"


def test_permalink_pattern_setting() -> None:
    settings = load_settings({"SITE_URL": SITE_URL + "/blog/", "PERMALINK": "/posts/{year}/{slug}.html"})
    post = parse_post(post_text(slug="a b/c?").encode(), "x.md", settings)
    assert post.permalink == f"{SITE_URL}/blog/posts/2024/a%20b%2Fc%3F.html"


# ---------------------------------------------------------------- bodies


def body(name: str) -> Any:
    post = read(name)
    return render_body(post.body, post.permalink, post.summary)


@pytest.mark.parametrize(("name", "summary"), [
    ("more-marker.md", "<p>Intro <strong>bold</strong>.</p>"),
    ("more-marker-spaced.md", "<p>Lead.</p>"),
    ("more-marker-upper.md", "<p>Lead upper.</p>"),
    ("more-in-code-span.md", "<p>Write <code>&lt;!--more--&gt;</code> to cut.</p>"),
    ("first-paragraph-summary.md", "<p>The first paragraph.</p>"),
    ("summary-front-matter.md", "The given &lt;summary&gt; &amp; more"),
    ("description-front-matter.md", "Described here"),
])
def test_summary_rules(name: str, summary: str) -> None:
    rendered = body(name)
    assert rendered.summary.strip() == summary
    assert "more" not in rendered.content.lower().replace("<code>&lt;!--more--&gt;</code>", "")


def test_content_keeps_both_sides_of_more() -> None:
    content = body("more-marker.md").content
    assert "Intro" in content and "Rest of the post" in content and "<!--" not in content


def test_relative_links_and_images_become_absolute() -> None:
    content = body("relative-links.md").content
    base = f"{SITE_URL}/2024/04/08/relative/"
    for url in (f"{SITE_URL}/2024/04/08/other/", f"{SITE_URL}/about/", base + "#x", "https://example.com/a",
                base + "img/pic.png", f"{SITE_URL}/2024/04/08/up.jpg"):
        assert f'"{url}"' in content
    assert 'href="../' not in content and 'src="img' not in content


def test_hostile_html_is_sanitized() -> None:
    content = body("script-onclick-javascript.md").content.lower()
    for bad in ("<script", "javascript:", "<iframe", "<svg", "data:", "<style", "alert("):
        assert bad not in content
    assert not re.search(r"\son\w+\s*=", content)  # no event-handler attribute
    assert "click" in content  # the text stays


def test_raw_html_and_gfm() -> None:
    raw = body("raw-html.md").content
    assert "<em>emphasis</em>" in raw and "<abbr" in raw and "class=" not in raw
    gfm = body("gfm-table-strikethrough.md").content
    assert "<table>" in gfm and "<td>1</td>" in gfm and "<del>gone</del>" in gfm


# ---------------------------------------------------------------- the folder


def test_scan_skips_hidden_files_leftovers_and_other_extensions() -> None:
    found = set(scan(str(EDGE_CONTENT)))
    assert "nested/folder/deep-post.md" in found and "markdown-extension.markdown" in found
    for name in (".hidden.md", "editor-backup.md~", "#autosave.md#", ".swapfile.md.swp",
                 "skip-not-markdown.txt", ".hidden-folder/inside.md"):
        assert name not in found


@pytest.mark.parametrize("name", ["x.md.swp", "x.swp", "x~", "#x.md#", ".x.md", "x.md~", "x.MD.SWP"])
def test_editor_leftover_names(tmp_path: Path, name: str) -> None:
    write_file(tmp_path, name, post_text())
    assert scan(str(tmp_path)) == {}


def test_symlink_escaping_the_folder_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = write_file(outside, "secret.md", post_text(title="SECRET"))
    root = tmp_path / "content"
    write_file(root, "ok.md", post_text(title="ok"))
    (root / "link.md").symlink_to(secret)
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "inside.md").symlink_to(root / "ok.md")  # stays inside: fine
    (root / "loop").symlink_to(root, target_is_directory=True)  # a loop: visited once
    (root / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    found = scan(str(root))
    assert set(found) == {"ok.md", "inside.md"}


def test_drafts_and_future_posts_are_not_published() -> None:
    result = ContentLoader(load_settings({"SITE_URL": SITE_URL, "CONTENT_DIR": str(EDGE_CONTENT)})).load()
    index = build_index(result.posts.values(), SETTINGS, utc(2025, 1, 1))
    assert "draft.md" in result.posts and "draft.md" not in index.posts
    assert "future-date.md" in result.posts and "future-date.md" not in index.posts
    assert index.next_publication == utc(2999, 1, 1)
    later = build_index(result.posts.values(), SETTINGS, utc(2999, 1, 1, 0, 0, 1))
    assert "future-date.md" in later.posts


def test_loading_the_edge_folder_reports_every_bad_file_and_keeps_the_rest() -> None:
    result = ContentLoader(load_settings({"SITE_URL": SITE_URL, "CONTENT_DIR": str(EDGE_CONTENT)})).load()
    assert {path for path, _ in result.errors} == set(BAD_REASONS)
    good = {str(p.relative_to(EDGE_CONTENT)) for p in EDGE_CONTENT.rglob("*")
            if p.is_file() and p.suffix in (".md", ".markdown") and not p.name.startswith(("bad-", "."))
            and ".hidden-folder" not in p.parts}
    assert set(result.posts) == good


def test_duplicate_slugs_and_ids_get_distinct_ids_and_warnings() -> None:
    result = ContentLoader(load_settings({"SITE_URL": SITE_URL, "CONTENT_DIR": str(EDGE_CONTENT)})).load()
    index = build_index(result.posts.values(), SETTINGS, NOW)
    assert len(set(index.ids.values())) == len(index.ids)
    assert index.ids["duplicate-slug-a.md"] == f"{SITE_URL}/2024/05/04/same/"  # the oldest keeps it
    assert index.ids["duplicate-id-a.md"] == "urn:x:dup"
    assert index.ids["duplicate-id-b.md"] != "urn:x:dup"
    warned = {path for path, _ in index.warnings}
    assert {"duplicate-slug-b.md", "duplicate-id-b.md"} <= warned
    # a declared id that is not a URI becomes a stable urn:uuid (RFC 4287 4.2.6 wants an IRI)
    assert index.ids["id-given-not-uri.md"].startswith("urn:uuid:")


def test_file_with_many_tags_and_long_lines_is_fine(tmp_path: Path) -> None:
    tags = [f"tag{i}" for i in range(500)]
    post = parse_post(post_text(tags=tags, body="word " * 100_000).encode(), "many.md", SETTINGS)
    assert len(post.tags) == 500


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files regardless of their mode")
    path = write_file(tmp_path, "locked.md", post_text())
    path.chmod(0)
    with pytest.raises(PostError, match="cannot read"):
        read_post(str(path), "locked.md", SETTINGS)


@pytest.mark.parametrize("markdown", ["<div>" * 100_000, "> " * 50_000 + "x", "<span><em>" * 30_000])
def test_pathologically_nested_html_is_shown_as_text(markdown: str) -> None:
    """The sanitizer's tree builder is quadratic in depth (100k nested divs took ~20 s); such a
    body is escaped instead of parsed. (The cost is not asserted; the chosen path is.)"""
    rendered = render_body(markdown, f"{SITE_URL}/p/", "")
    assert rendered.content.startswith("<pre>") and "&lt;" in rendered.content
    assert "<div>" not in rendered.content and "<blockquote>" not in rendered.content


def test_ordinary_nesting_is_still_html() -> None:
    markdown = "> " * 30 + "deep quote\n\n" + "".join("  " * i + "- item\n" for i in range(20))
    rendered = render_body(markdown, f"{SITE_URL}/p/", "")
    assert rendered.content.count("<blockquote>") == 30 and rendered.content.count("<ul>") == 20
    raw = "<table>" + "<tr><td>cell" * 500 + "</table>\n"  # optional end tags do not nest
    assert "<td>cell</td>" in render_body(raw, f"{SITE_URL}/p/", "").content


@pytest.mark.parametrize(
    ("front", "reason"),
    [
        ("tags: [" + ", ".join(f"t{i}" for i in range(501)) + "]", "tags: 501 names, more than 500"),
        ("categories: [" + "x" * 201 + "]", "categories: a name longer than 200 characters"),
    ],
    ids=["thousands-of-feeds", "huge-name"],
)
def test_names_that_would_explode_the_feed_count_are_refused(front: str, reason: str) -> None:
    from feedsvc.config import load_settings
    from feedsvc.posts import PostError, parse_post

    data = f"---\ntitle: T\ndate: 2024-01-01\n{front}\n---\nbody\n".encode()
    with pytest.raises(PostError, match=reason):
        parse_post(data, "p.md", load_settings({}))


@pytest.mark.parametrize("link", ["//evil.example.com/x", "///evil.example.com/x", "\\\\evil.example.com/x",
                                  "/\\evil.example.com/x", "/\t/evil.example.com/x", "\\/evil.example.com"])
def test_a_link_without_a_scheme_must_stay_on_the_site(link: str) -> None:
    """Issue 8: a protocol-relative link got the permalink https://evil.example.com/x."""
    text = f"---\ntitle: T\ndate: 2024-01-01\nlink: {json.dumps(link)}\n---\nBody\n".encode()
    with pytest.raises(PostError, match="must be a path on the site|must be an http"):
        parse_post(text, "evil.md", SETTINGS)


def test_a_path_link_resolves_on_the_site() -> None:
    post = parse_post(b"---\ntitle: T\ndate: 2024-01-01\nlink: /notes/a\n---\nBody\n", "a.md", SETTINGS)
    assert post.permalink == f"{SITE_URL}/notes/a"


# ---------------------------------------------------------------- authors, images, attachments, language


def test_authors_names_or_mappings_with_absolute_urls() -> None:
    post = read("authors-list.md")
    assert [(a.name, a.url, a.email) for a in post.authors] == [
        ("乔仁铭", "", ""), ("Ada Lovelace", f"{SITE_URL}/about/ada/", "ada@example.org")]
    assert post.author == "乔仁铭" and not post.warnings
    nameless = read("authors-without-name.md")
    assert [a.name for a in nameless.authors] == ["Grace"]
    assert nameless.warnings == ("authors: an author without a name is left out",)


@pytest.mark.parametrize(("meta", "warning"), [
    ({"authors": [{"name": "A", "email": "not an address"}]}, "email 'not an address' is not an address"),
    ({"authors": [{"name": "A", "url": "javascript:alert(1)"}]}, "url is not an http(s) URL"),
    ({"image": "javascript:alert(1)"}, "image: not an http(s) URL"),
    ({"enclosure": {"type": "audio/mpeg"}}, "attachment: no http(s) url"),
    ({"enclosure": {"url": "https://x.example/a.mp3", "type": "audio/mpeg", "length": "lots"}}, "no length in bytes"),
    ({"enclosure": {"url": "https://x.example/a", "length": 3, "type": "mp3"}}, "type 'mp3' is not a media type"),
    ({"lang": "en US"}, "lang: 'en US' is not a language tag"),
])
def test_unusable_people_media_and_language_are_warnings(meta: dict[str, Any], warning: str) -> None:
    post = parse_post(post_text(**meta).encode(), "w.md", SETTINGS)
    assert any(warning in w for w in post.warnings), post.warnings


def test_a_name_too_long_for_a_feed_refuses_the_post() -> None:
    with pytest.raises(PostError, match="longer than 200"):
        parse_post(post_text(author="x" * 201).encode(), "long.md", SETTINGS)


def test_images_attachments_and_language() -> None:
    assert read("image-front-matter-relative.md").image == f"{SITE_URL}/2024/04/18/with-image/img/cover.png"
    assert read("cover-key.md").image == "https://cdn.example.org/c.jpg?a=1&b=2"
    assert read("image-from-body.md").image == ""  # the renderer takes the body's first image
    body = render_body(read("image-from-body.md").body, f"{SITE_URL}/p/", "")
    assert body.image == f"{SITE_URL}/img/diagram.svg"
    (episode,) = read("enclosure-podcast.md").attachments
    assert (episode.mime_type, episode.length, episode.duration, episode.title) == ("audio/mpeg", 12345678, 3723.0, "Episode 1")
    pdf, docx = read("attachments-pdf.md").attachments
    assert pdf.url == f"{SITE_URL}/2024/04/22/notice/files/notice.pdf" and docx.length is None
    assert parse_post(post_text(enclosure={"url": "https://x.example/a.mp3", "duration": "01:02:03.5"}).encode(),
                      "d.md", SETTINGS).attachments[0].duration == 3723.5
    assert read("lang-front-matter.md").language == "en-US"
    assert read("language-invalid.md").language == ""


class _SafeConstructorOnly(_TextKeysLoader):  # type: ignore[misc]
    """The loader as it was: text keys marked, then SafeConstructor for everything."""

    def construct_document(self, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in posts_module.TEXT_KEYS:
                    posts_module._as_text(value)
        return posts_module._YAML_LOADER_BASE.construct_document(self, node)


FRONT_MATTERS = [
    "title: 2022\ndate: 2024-01-02 03:04:05.123456\ntags: [no, 1.10, ~, null]\ncount: 12\nratio: 1.5\nflag: yes\nnothing:\n",
    "title: t\ndate: 2024-01-01\nbase: &b {x: 1, y: [a, b]}\nother:\n  <<: *b\n  z: 3\n",  # merge key: the full constructor
    "title: t\nset: !!set {a, b}\nomap: !!omap [a: 1, b: 2]\n",
    "title: t\n? [a, b]\n: complex key\n",
    "title: t\nshared: &s [1, 2]\nagain: *s\nnested: {a: {b: {c: [1, {d: e}]}}}\n",
    "title: t\nempty_map: {}\nempty_list: []\nquoted: '2024-01-01'\nbinary: !!binary aGVsbG8=\n",
    "title: t\n1: int key\n2024-01-01: date key\ntrue: bool key\n",
    "title: t\nlist_of_maps:\n  - name: a\n    url: /x\n  - name: b\n",
    "title: 'quoted: yes'\nauthors: [{name: A, email: a@example.org}]\nlink: //evil.example.com/x\n",
    "a: &a [*a]\ntitle: t\n",  # a recursive alias
]


@pytest.mark.parametrize("text", FRONT_MATTERS + [
    p.read_text(encoding="utf-8", errors="replace").split("\n---", 1)[0].lstrip("-\n") for p in sorted(EDGE_CONTENT.glob("*.md"))
])
def test_front_matter_values_are_those_of_safe_constructor(text: str) -> None:
    """The direct walk of plain front matter gives exactly SafeConstructor's values (types,
    shared objects, merge keys and tags through SafeConstructor itself), or the same error."""

    def load(loader: Any) -> Any:
        try:
            return yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclasses
        except (yaml.YAMLError, RecursionError) as exc:
            return type(exc)

    fast, full = load(_TextKeysLoader), load(_SafeConstructorOnly)
    assert repr(fast) == repr(full)  # repr: a recursive value is not == comparable
    assert type(fast) is type(full)
    if isinstance(full, dict):
        assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in full.items()}


def test_a_contested_id_goes_to_the_oldest_post_then_the_first_path() -> None:
    def post(name: str, date: str) -> Post:
        return parse_post(post_text(title=name, date=date, id="urn:x:same", slug=name).encode(), f"{name}.md", SETTINGS)

    posts = [post("c", "2024-01-02 00:00:00"), post("b", "2024-01-01 00:00:00"), post("a", "2024-01-01 00:00:00"),
             post("d", "2023-12-31 00:00:00")]
    index = build_index(reversed(posts), SETTINGS, datetime(2025, 1, 1, tzinfo=UTC))
    assert index.ids["d.md"] == "urn:x:same"  # the oldest
    assert all(index.ids[n].startswith("urn:x:same#") for n in ("a.md", "b.md", "c.md"))
    assert [p for p, _ in index.warnings] == ["a.md", "b.md", "c.md"]
    assert list(index.posts) == ["c.md", "a.md", "b.md", "d.md"]  # newest first, ties by path
    index = build_index([p for p in posts if p.source != "d.md"], SETTINGS, datetime(2025, 1, 1, tzinfo=UTC))
    assert index.ids["a.md"] == "urn:x:same" and index.ids["b.md"] != "urn:x:same"  # a tie: the first path
