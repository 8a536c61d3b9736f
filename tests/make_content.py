"""Writes tests/content/: one small post file per edge case, named after the case (pelican's
``pelican/tests/content`` style). The files are committed; this script documents how the ones
with unusual bytes (BOM, CRLF, CR-only, not UTF-8, control characters) were made, and rewrites
them when run: ``.venv/bin/python tests/make_content.py``.

Files whose name starts with ``bad-`` must be refused with the reason in BAD_REASONS
(tests/test_posts.py); ``skip-`` files and hidden/leftover names must never be read.
"""

from __future__ import annotations

import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "content")


def fm(title: str, date: str, *extra: str, body: str = "Body text.\n") -> str:
    lines = ["---", f"title: {title}", f"date: {date}", *extra, "---", body]
    return "\n".join(lines)


TEXT: dict[str, str | bytes] = {
    # ---- front matter forms
    "bom.md": b"\xef\xbb\xbf" + fm("BOM post", "2024-01-01 08:00:00", "tags: [bom]").encode(),
    "crlf.md": fm("CRLF post", "2024-01-02 08:00:00", "tags:\n- crlf").replace("\n", "\r\n").encode(),
    "cr-only.md": fm("CR-only post", "2024-01-03 08:00:00", "tags:\n- cr").replace("\n", "\r").encode(),
    "toml-front-matter.md": (
        '+++\ntitle = "TOML post"\ndate = 2024-01-04T08:00:00Z\ntags = ["toml", "hugo"]\n'
        'categories = "notes"\n+++\nHugo writes front matter in TOML.\n'
    ),
    "unknown-keys.md": fm("Unknown keys kept", "2024-01-05 08:00:00", "authorbox: false", "sidebar: false"),
    # ---- titles and names typed by YAML
    "title-numeric.md": fm("2022", "2024-01-06 08:00:00", "tags: [2024, 1.10]", "categories: 3"),
    "title-bool.md": fm("no", "2024-01-07 08:00:00", "tags: [yes, off]"),
    "tags-string.md": fm("Tags as a string", "2024-01-08 08:00:00", "tags: python"),
    "tags-empty.md": fm("Tags empty", "2024-01-09 08:00:00", "tags:", "categories: []"),
    "tags-list.md": fm("Tags as a list", "2024-01-10 08:00:00", "tags:\n- python\n- Feeds\n- 南开大学"),
    # ---- dates
    "date-seed-form.md": fm("Seed date form", "2022-04-01 01:22:35.323881"),
    "date-only.md": fm("Date only", "2024-02-29"),
    "date-iso-offset.md": fm("ISO date with offset", "2024-03-01T10:00:00+08:00"),
    "date-iso-offset-quoted.md": fm("Quoted ISO date with offset", '"2024-03-01T11:00:00+08:00"'),
    "date-z.md": fm("ISO date with Z", "2024-03-02T10:00:00Z"),
    "date-updated-lastmod.md": fm("Updated via lastmod", "2024-03-03 10:00:00", "lastmod: 2024-03-05 10:00:00"),
    # ---- publication
    "draft.md": fm("A draft", "2024-03-04 10:00:00", "draft: true"),
    "future-date.md": fm("From the future", "2999-01-01 00:00:00"),
    # ---- body
    "more-marker.md": fm("More marker", "2024-04-01 10:00:00", body="Intro **bold**.\n\n<!--more-->\n\nRest of the post.\n"),
    "more-marker-spaced.md": fm("More marker spaced", "2024-04-02 10:00:00", body="Lead.\n<!-- more -->\nRest.\n"),
    "more-marker-upper.md": fm("More marker upper", "2024-04-03 10:00:00", body="Lead upper.\n\n<!--MORE-->\n\nRest.\n"),
    "more-in-code-span.md": fm(
        "More marker in code", "2024-04-04 10:00:00",
        body="Write `<!--more-->` to cut.\n\nSecond paragraph.\n",
    ),
    "summary-front-matter.md": fm("Summary given", "2024-04-05 10:00:00", "summary: The given <summary> & more",
                                  body="First paragraph.\n\nSecond.\n"),
    "description-front-matter.md": fm("Description given", "2024-04-06 10:00:00", "description: Described here",
                                      body="First paragraph.\n"),
    "first-paragraph-summary.md": fm("First paragraph summary", "2024-04-07 10:00:00",
                                     body="The first paragraph.\n\nThe second paragraph.\n"),
    "relative-links.md": fm(
        "Relative links", "2024-04-08 10:00:00", "slug: relative",
        body="[sibling](../other/) [root](/about/) [frag](#x) [abs](https://example.com/a)\n\n"
        "![pic](img/pic.png) ![up](../up.jpg)\n",
    ),
    "script-onclick-javascript.md": fm(
        "Hostile HTML", "2024-04-09 10:00:00", "tags: [hostile]",
        body='<script>alert(1)</script>\n\n<p onclick="alert(2)">click</p>\n\n'
        '<a href="javascript:alert(3)">js</a> <a href=" JaVaScRiPt:alert(4)">js2</a>\n\n'
        "[md](javascript:alert(5))\n\n<img src=x onerror=alert(6)>\n\n"
        '<iframe src="https://evil.example/"></iframe><svg onload=alert(7)></svg>\n\n'
        '<a href="data:text/html,<script>alert(8)</script>">data</a> <style>body{}</style>\n',
    ),
    "raw-html.md": fm(
        "Raw HTML", "2024-04-10 10:00:00",
        body='<div class="note"><em>emphasis</em> and <abbr title="HyperText">HTML</abbr></div>\n\n'
        "Unclosed <b>bold\n",
    ),
    "gfm-table-strikethrough.md": fm(
        "GFM table", "2024-04-11 10:00:00",
        body="| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ text\n",
    ),
    "control-characters.md": fm(
        '"Bell\\a and\\x01 nul\\0 in title \\uFFFE\\uFFFF"', "2024-04-12 10:00:00",
        'tags: ["tab\\x0b", "ok"]',
        body="Body with \x01 control \x0b and \x1f chars and \ufffe\uffff non-characters.\n",
    ),
    "control-characters-raw.md": fm(
        "Raw \x0b vertical tab and \x08 backspace", "2024-04-13 10:00:00", body="Raw \x00 NUL in body.\n"
    ),
    "hostile-names.md": fm(
        "<b>Hostile</b> & names", "2024-04-14 10:00:00",
        'tags: ["a/b", "what?", "c#", "with space", "<script>x</script>", "a&b", "..", "南开大学", "ＰＹＴＨＯＮ", "100%"]',
        'categories: ["C/C++", "Ünïcode"]',
    ),
    "author-name.md": fm("Has an author", "2024-04-15 10:00:00", "author: 乔仁铭", "tags: [authored]"),
    # ---- people, media, attachments, language
    "authors-list.md": fm(
        "Two authors", "2024-04-16 10:00:00", "tags: [authored]",
        "authors:\n- 乔仁铭\n- name: Ada Lovelace\n  url: /about/ada/\n  email: ada@example.org",
    ),
    "authors-without-name.md": fm("Author without a name", "2024-04-17 10:00:00",
                                  "authors:\n- email: nobody@example.org\n- name: Grace", "tags: [authored]"),
    "image-front-matter-relative.md": fm("Image given, relative", "2024-04-18 10:00:00", "slug: with-image",
                                         "image: img/cover.png", "tags: [media]", body="![first](img/other.png)\n"),
    "cover-key.md": fm("Cover key", "2024-04-19 10:00:00", "cover: https://cdn.example.org/c.jpg?a=1&b=2", "tags: [media]"),
    "image-from-body.md": fm("Image from the body", "2024-04-20 10:00:00", "tags: [media]",
                             body="Text.\n\n![a diagram](/img/diagram.svg) ![second](/img/second.png)\n"),
    "enclosure-podcast.md": fm(
        "Podcast episode", "2024-04-21 10:00:00", "tags: [media]",
        "enclosure:\n  url: https://cdn.example.org/ep1.mp3\n  type: audio/mpeg\n  length: 12345678\n"
        "  duration: 1:02:03\n  title: Episode 1",
    ),
    "attachments-pdf.md": fm(
        "PDF notice", "2024-04-22 10:00:00", "tags: [media]", "slug: notice",
        "attachments:\n- url: files/notice.pdf\n  type: application/pdf\n  length: 2048\n  title: 通知\n"
        "- url: https://cdn.example.org/notice.docx",
    ),
    "enclosure-missing-length-type.md": fm("Enclosure without length or type", "2024-04-23 10:00:00", "tags: [media]",
                                           "enclosure: https://cdn.example.org/talk.ogg"),
    "lang-front-matter.md": fm("English post", "2024-04-24 10:00:00", "lang: en-US", "tags: [lang]"),
    "language-invalid.md": fm("Invalid language", "2024-04-25 10:00:00", 'language: "not a tag!"', "tags: [lang]"),
    # ---- links and ids
    "link-permalink.md": fm("Explicit link", "2024-05-01 10:00:00", "link: https://elsewhere.example/posts/explicit"),
    "id-given.md": fm("Id given", "2024-05-02 10:00:00", "id: tag:example.org,2024:id-given"),
    "id-given-not-uri.md": fm("Id given, not a URI", "2024-05-03 10:00:00", "id: 12345"),
    "duplicate-slug-a.md": fm("Duplicate slug A", "2024-05-04 10:00:00", "slug: same"),
    "duplicate-slug-b.md": fm("Duplicate slug B", "2024-05-04 12:00:00", "slug: same"),
    "duplicate-id-a.md": fm("Duplicate id A", "2024-05-05 10:00:00", "id: urn:x:dup"),
    "duplicate-id-b.md": fm("Duplicate id B", "2024-05-06 10:00:00", "id: urn:x:dup"),
    "urlname.md": fm("Urlname", "2024-05-07 10:00:00", "urlname: from-urlname"),
    # ---- files and folders
    "nested/folder/deep-post.md": fm("Nested post", "2024-06-01 10:00:00", "categories: [nested]"),
    "markdown-extension.markdown": fm("Markdown extension", "2024-06-02 10:00:00"),
    ".hidden.md": fm("Hidden", "2024-06-03 10:00:00"),
    "editor-backup.md~": fm("Backup", "2024-06-04 10:00:00"),
    "#autosave.md#": fm("Autosave", "2024-06-05 10:00:00"),
    ".swapfile.md.swp": fm("Swap", "2024-06-06 10:00:00"),
    "skip-not-markdown.txt": fm("Text file", "2024-06-07 10:00:00"),
    ".hidden-folder/inside.md": fm("In a hidden folder", "2024-06-08 10:00:00"),
    # ---- bad posts
    "bad-no-front-matter.md": "Just a body, no front matter.\n",
    "bad-unterminated.md": "---\ntitle: Never closed\ndate: 2024-01-01\n\nBody.\n",
    "bad-invalid-yaml.md": "---\ntitle: [unclosed\ndate: 2024-01-01\n---\nBody.\n",
    "bad-invalid-toml.md": "+++\ntitle = unquoted\n+++\nBody.\n",
    "bad-not-a-mapping.md": "---\n- a\n- list\n---\nBody.\n",
    "bad-no-title.md": "---\ndate: 2024-01-01\n---\nBody.\n",
    "bad-empty-title.md": "---\ntitle: ''\ndate: 2024-01-01\n---\nBody.\n",
    "bad-title-list.md": "---\ntitle: [a, b]\ndate: 2024-01-01\n---\nBody.\n",
    "bad-date-unparseable.md": "---\ntitle: Bad date\ndate: next tuesday\n---\nBody.\n",
    "bad-not-utf8.md": "---\ntitle: Café\ndate: 2024-01-01\n---\nLatin-1 body é.\n".encode("latin-1"),
    "bad-empty-file.md": b"",
    "bad-alias-bomb.md": (
        "---\ntitle: bomb\ndate: 2024-01-01\n"
        'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
                  f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(8))
        + "---\nBody.\n"
    ),
    "bad-deep-nesting.md": "---\ntitle: deep\ndate: 2024-01-01\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nBody.\n",
    "bad-deep-nesting-block.md": (
        "---\ntitle: deep block\ndate: 2024-01-01\n" + "".join(" " * i + f"k{i}:\n" for i in range(60)) + "---\nBody.\n"
    ),
}


def main() -> None:
    for name, text in TEXT.items():
        path = os.path.join(HERE, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        with open(path, "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
