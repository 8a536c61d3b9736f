"""Long-tail tag corpus of issue 10.5: a gen_corpus.py corpus with two extra tags per post.

    .venv/bin/python bench/longtail.py SRC OUTDIR [--names 5000] [--seed 1]

Each post of SRC is copied to OUTDIR with two more entries in its ``tags:`` list, drawn
uniformly (seeded, so the corpus is the same on every machine) from ``--names`` made-up tag
names, half ASCII and half Chinese. 10k posts draw 20k tags from 5,000 names, which leaves
about 4,900 of them in use: with the corpus' own 20 categories and ~200 tags, 5,139 feeds.
Only the text is changed; mtimes are copied. Developer tooling, stdlib only.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
from pathlib import Path

TAGS_LINE = re.compile(r"^tags:[ \t]*\n", re.MULTILINE)
SYLLABLES = ["数据", "平台", "课题", "实验", "教学", "科研", "校园", "创新", "合作", "讲座", "论文", "专家"]


def tag_names(count: int) -> list[str]:
    """``count`` distinct, deterministic names: "topic-0001" style and two-word Chinese ones."""
    names = []
    for i in range(count):
        if i % 2:
            a, b = divmod(i // 2, len(SYLLABLES))
            names.append(f"{SYLLABLES[a % len(SYLLABLES)]}{SYLLABLES[b]}{i // 2:04d}")
        else:
            names.append(f"topic-{i // 2:04d}")
    return names


def add_tags(text: str, extra: list[str]) -> str:
    """The post with ``extra`` appended to its YAML ``tags:`` block list (gen_corpus.py writes
    ``tags:`` on its own line followed by ``- name`` lines)."""
    match = TAGS_LINE.search(text)
    if match is None:
        raise ValueError("no 'tags:' block list in the front matter")
    insert = "".join(f"- {name}\n" for name in extra)
    return text[: match.end()] + insert + text[match.end():]


def build(src: Path, out: Path, names: int = 5000, seed: int = 1) -> int:
    """Write the long-tail copy of ``src`` to ``out``; the number of posts."""
    rng = random.Random(seed)
    pool = tag_names(names)
    posts = sorted(p for p in src.rglob("*.md"))
    shutil.rmtree(out, ignore_errors=True)
    for path in posts:
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(add_tags(path.read_text(encoding="utf-8"), rng.sample(pool, 2)), encoding="utf-8")
        shutil.copystat(path, target)
    return len(posts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{build(args.src, args.out, args.names, args.seed)} posts written to {args.out}")


if __name__ == "__main__":
    main()
