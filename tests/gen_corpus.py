#!/usr/bin/env python3
# ruff: noqa
# Copied verbatim from shared/tools/gen_corpus.py beside this repository (the corpus generator) so that
# tests never read outside the repo. Used by tests/test_feed_validity.py as gen_corpus.main([...]).
"""Deterministic corpus generator for feed-service benchmarks (stdlib only).

Usage:
    python gen_corpus.py OUTDIR N [--seed S] [--start-year Y] [--end-year Y]

Writes N Markdown posts with YAML front matter in the Hexo-style format used by
the real site (title/date/urlname/slug/tags/categories/authorbox/sidebar),
bodies of 3-8 KB (UTF-8 bytes) of mixed Chinese/English news-like text with a
``<!--more-->`` marker, Markdown images and links.

Layout: OUTDIR/<year>/<YYYY-MM-DD>-<slug>.md (one subfolder per year).
Each file's mtime is set to the post date, so the output is fully
deterministic for a given (N, seed, years): same bytes, same names, same mtimes.

Tags: 200 distinct names (Chinese and English, unique case-insensitively and
after slugification), Zipf-like popularity (weight 1/rank), 1-4 per post.
Categories: 20 distinct names: 4 parents x 4 children; each post has a
parent/child list of 1 or 2 names (parent first).
"""
import argparse
import hashlib
import os
import random
import sys
import time
from bisect import bisect
from datetime import datetime, timedelta, timezone
from itertools import accumulate

# ---------------------------------------------------------------- vocabulary
ZH_SUBJ = ["我校", "学校", "学院", "研究团队", "校党委", "师生代表", "与会专家", "该项目组",
           "研究生", "本科生", "科研人员", "图书馆", "校友会", "附属医院", "重点实验室",
           "教务处", "青年教师", "志愿者", "代表团", "课题组", "编辑部", "工作组",
           "学生会", "校领导", "合作企业", "兄弟院校", "评审专家", "留学生"]
ZH_ADV = ["近日", "日前", "4月1日上午", "3月下旬", "本周", "在津南校区", "在八里台校区",
          "以线上线下相结合的方式", "在学校主楼报告厅", "在泰达学院", "在滨海新区",
          "经过数月筹备", "根据上级部署", "为深入贯彻落实有关精神", "在开幕式上",
          "会议期间", "活动现场", "据悉", "此外", "与此同时", "截至目前"]
ZH_VERB = ["召开", "举办", "参加", "发布", "推进", "开展", "组织", "完成", "获得", "启动",
           "签署", "深化", "加强", "探索", "总结", "部署", "承办", "研讨", "展示", "建设",
           "完善", "落实", "支持", "交流", "发表", "评选", "表彰", "培育"]
ZH_MOD = ["全国性", "高水平", "跨学科", "国际化", "数字化", "第十二届", "年度", "重大",
          "创新型", "系统性", "面向未来的", "具有示范意义的", "首批", "新一轮", "多层次",
          "线上", "开放共享的", "基础性", "前沿"]
ZH_OBJ = ["学术研讨会", "人才培养方案", "国家重点研发计划", "合作协议", "创新创业大赛",
          "教学改革", "疫情防控工作", "智慧教育平台", "学科建设", "国际交流项目",
          "志愿服务活动", "毕业典礼", "开学典礼", "科研成果", "专题报告会", "实践课程",
          "公益讲座", "联合实验室", "数据共享平台", "期刊论文", "校园文化节", "招生宣传",
          "就业指导", "党史学习教育", "新生入学教育", "课程思政", "产学研合作", "读书会"]
ZH_TAIL = ["，进一步提升了人才培养质量", "，受到师生广泛好评", "，取得了阶段性成果",
           "，为后续工作奠定了坚实基础", "，吸引了数百名师生参与", "，相关负责人出席",
           "，现场气氛热烈", "，引发社会各界关注", "，持续推动高质量发展",
           "，形成了一批可复制可推广的经验", "", "", "", ""]
ZH_SURNAME = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤乔"
ZH_GIVEN = "仁铭思远晓明雨欣子涵浩然梓萱文博佳怡俊杰诗琪志强丽娟建国海燕宇航静雯天佑嘉懿一鸣若曦沐阳婉清承泽书瑶"
EN_SUBJ = ["The team", "Our lab", "The new release", "This approach", "The scheduler",
           "A small script", "The feed generator", "The cache layer", "Each worker",
           "The index", "The parser", "The front end", "The committee", "Most readers",
           "The benchmark", "The migration", "Our CI pipeline", "The static site",
           "The reverse proxy", "The database", "The author", "This post"]
EN_VERB = ["reduces", "improves", "replaces", "measures", "documents", "simplifies",
           "serializes", "caches", "renders", "validates", "streams", "compresses",
           "indexes", "rebuilds", "schedules", "monitors", "exports", "normalizes",
           "deduplicates", "paginates"]
EN_ADJ = ["incremental", "stale", "compressed", "cold", "warm", "concurrent", "naive",
          "deterministic", "redundant", "expensive", "cheap", "lazy", "multilingual",
          "hierarchical", "hot", "large", "tiny", "experimental", "stable", "legacy"]
EN_OBJ = ["feeds", "requests", "front matter", "Markdown files", "timestamps", "ETags",
          "category pages", "tag archives", "HTTP headers", "build artifacts",
          "XML documents", "image links", "unicode titles", "slugs", "cache entries",
          "latency spikes", "memory usage", "syndication clients", "summaries",
          "permalinks", "startup time", "log lines"]
EN_TAIL = [" across the whole site", " without touching the disk", " in under a second",
           " on every rebuild", " for most clients", " when nothing has changed",
           " with a single worker", " after the first request", " at scale",
           " during peak hours", "", "", "", ""]

TAG_ZH = ["南开大学", "天津", "教育", "科研", "招生", "就业", "校园生活", "学术讲座", "国际交流",
          "人工智能", "大数据", "新能源", "生物医药", "历史", "文学", "经济", "数学", "化学",
          "物理", "法学", "哲学", "艺术", "体育", "志愿服务", "毕业季", "开学季", "读书",
          "疫情防控", "党建", "校友", "图书馆", "实验室", "创新创业", "乡村振兴", "智慧教育",
          "在线课程", "心理健康", "环境保护", "碳中和", "芯片", "量子计算", "机器人",
          "航天", "考古", "中医药", "外语", "留学", "奖学金", "社会实践", "社团活动",
          "摄影", "音乐", "电影", "旅行", "美食", "健身", "编程", "开源", "写作", "笔记",
          "年度总结", "随笔", "翻译", "诗歌", "数学建模", "竞赛", "论文", "答辩", "实习",
          "求职", "面试", "考研", "保研", "博士", "硕士", "本科", "新生", "军训", "宿舍",
          "食堂", "校庆", "讲座", "会议", "合作", "基金", "专利", "获奖", "排名", "学科评估",
          "双一流", "教学改革", "课程思政", "网络安全", "区块链", "元宇宙", "云计算",
          "操作系统", "数据库", "前端", "天文"]
TAG_EN = ["Python", "Go", "Rust", "JavaScript", "TypeScript", "Linux", "Docker",
          "Kubernetes", "nginx", "Flask", "Django", "FastAPI", "Hugo", "Hexo", "Pelican",
          "RSS", "Atom", "JSON Feed", "Markdown", "YAML", "SQLite", "PostgreSQL", "Redis",
          "Git", "GitHub Actions", "CI", "testing", "benchmark", "performance", "caching",
          "HTTP", "HTTP2", "TLS", "DNS", "CDN", "gzip", "brotli", "unicode", "i18n",
          "static site", "web scraping", "crawler", "scheduler", "cron", "systemd",
          "Vim", "Emacs", "VS Code", "machine learning", "deep learning", "NLP", "LLM",
          "PyTorch", "NumPy", "pandas", "Jupyter", "data visualization", "statistics",
          "algorithms", "C++", "C#", "Java", "Kotlin", "Swift", "WebAssembly", "Node.js",
          "React", "Vue", "CSS", "HTML", "accessibility", "security", "OAuth", "REST",
          "GraphQL", "gRPC", "Raspberry Pi", "home lab", "self-hosting", "backup", "ZFS",
          "networking", "IPv6", "email", "productivity", "reading notes", "book review",
          "travel notes", "photography", "open source", "career", "interview", "remote work",
          "writing", "weekly", "til", "howto", "release notes", "changelog", "retrospective",
          "side project"]
# 4 parents x 4 children = 20 distinct category names (children unique).
CATEGORIES = [
    ("nankai.info", ["南开大学", "校园新闻", "学术动态", "媒体南开"]),
    ("tech.blog", ["Python", "Web", "DevOps", "Data"]),
    ("随笔", ["生活", "读书笔记", "旅行", "摄影"]),
    ("notes", ["Linux", "Algorithms", "Papers", "Tools"]),
]
HOSTS = {"nankai.info": "http://news.nankai.edu.cn", "tech.blog": "https://blog.example.org",
         "随笔": "https://img.example.net", "notes": "https://notes.example.com"}
LEADS = {"nankai.info": "**南开新闻网讯** （记者 {name} 通讯员 {name2}）",
         "tech.blog": "**TL;DR** ", "随笔": "", "notes": "> Notes, {date}.\n\n"}


def _build_tags():
    tags = TAG_ZH[:100] + TAG_EN[:100]
    assert len(tags) == 200
    # unique case-insensitively and after a naive slug, so every tool counts 200
    assert len({t.lower() for t in tags}) == 200
    order = random.Random(20240401).sample(tags, len(tags))  # fixed popularity order
    return order


TAGS = _build_tags()
TAG_CUM = list(accumulate(1.0 / (r + 1) for r in range(len(TAGS))))  # Zipf s=1


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        r = self.r
        self.zh = [self._zh_sentence() for _ in range(4000)]
        self.en = [self._en_sentence() for _ in range(3000)]
        self.names = [r.choice(ZH_SURNAME) + "".join(r.sample(ZH_GIVEN, r.choice((1, 2))))
                      for _ in range(300)]

    def _zh_sentence(self):
        r = self.r
        s = ""
        if r.random() < 0.6:
            s += r.choice(ZH_ADV) + "，"
        s += r.choice(ZH_SUBJ) + r.choice(ZH_VERB)
        if r.random() < 0.7:
            s += r.choice(ZH_MOD)
        s += r.choice(ZH_OBJ) + r.choice(ZH_TAIL)
        if r.random() < 0.35:
            s += "，" + r.choice(ZH_SUBJ) + r.choice(ZH_VERB) + r.choice(ZH_OBJ)
        return s + r.choice("。。。。；！")

    def _en_sentence(self):
        r = self.r
        s = f"{r.choice(EN_SUBJ)} {r.choice(EN_VERB)} {r.choice(EN_ADJ)} {r.choice(EN_OBJ)}"
        s += r.choice(EN_TAIL)
        if r.random() < 0.3:
            s += f", which {r.choice(EN_VERB)} the {r.choice(EN_OBJ)}"
        return s + r.choice("....!?")

    def paragraph(self, english):
        r = self.r
        if english:
            return " ".join(r.choices(self.en, k=r.randint(2, 6)))
        p = "".join(r.choices(self.zh, k=r.randint(2, 6)))
        if p.endswith("；"):
            p = p[:-1] + "。"
        if r.random() < 0.25:  # mixed-language paragraph
            p += " " + r.choice(self.en)
        return p

    def title(self, parent, child, english):
        r = self.r
        if english:
            t = f"{r.choice(EN_ADJ).capitalize()} {r.choice(EN_OBJ)}: how {r.choice(EN_SUBJ).lower()} {r.choice(EN_VERB)} {r.choice(EN_OBJ)}"
            t = t.replace(": ", " - ")  # keep it a plain YAML scalar, like the real posts
        else:
            t = r.choice(ZH_SUBJ) + r.choice(ZH_VERB) + r.choice(ZH_MOD) + r.choice(ZH_OBJ)
            if r.random() < 0.5:
                t += " " + r.choice(ZH_SUBJ) + r.choice(ZH_VERB) + r.choice(ZH_OBJ)
        if parent == "nankai.info":
            return f"{child or '南开大学'}->{t} | nankai.info"
        return t

    def post(self, i, seed, date):
        r = self.r
        parent, children = CATEGORIES[r.choices(range(4), weights=(5, 3, 2, 2))[0]]
        child = r.choice(children) if r.random() < 0.8 else None
        english = parent in ("tech.blog", "notes") and r.random() < 0.7
        title = self.title(parent, child, english)
        slug = hashlib.md5(f"{seed}:{i}".encode()).hexdigest()
        ntags = r.choice((1, 1, 2, 2, 2, 3, 3, 4))
        tags = []
        while len(tags) < ntags:
            t = TAGS[bisect(TAG_CUM, r.random() * TAG_CUM[-1])]
            if t not in tags:
                tags.append(t)
        cats = [parent] + ([child] if child else [])
        host = HOSTS[parent]
        target = r.randint(3000, 7600)
        lead = LEADS[parent].format(name=r.choice(self.names), name2=r.choice(self.names),
                                    date=date.strftime("%Y-%m-%d"))
        parts = [lead + self.paragraph(english), "<!--more-->"]
        size = sum(len(p.encode()) + 1 for p in parts)
        k = 0
        while size < target:
            k += 1
            x = r.random()
            if x < 0.12:
                alt = "图" if not english else "figure"
                p = f"![{alt}]({host}/images/{date:%Y-%m/%d}/{slug[:8]}{k:02d}.jpg)"
            elif x < 0.18:
                p = ("## " if english else "## ") + self.paragraph(english)[:40].rstrip("。，. ")
            elif x < 0.24:
                p = "\n".join(f"- {s}" for s in r.sample(self.en if english else self.zh, 3))
            elif x < 0.27 and english:
                p = "```python\nfor post in posts:\n    feed.add(post)  # %d\n```" % k
            else:
                p = self.paragraph(english)
                if r.random() < 0.3:
                    word = r.choice(TAGS)
                    p += f" 参见[{word}]({host}/{date:%Y/%m}/{slug[8:16]}.html)。" if not english \
                        else f" See [{word}]({host}/{date:%Y/%m}/{slug[8:16]}.html)."
                if r.random() < 0.15:
                    p = p.replace(r.choice(ZH_OBJ) if not english else r.choice(EN_OBJ),
                                  "**%s**" % (r.choice(ZH_OBJ) if not english else r.choice(EN_OBJ)), 1)
            parts.append(p)
            size += len(p.encode()) + 2
        body = "\n\n".join(parts) + "\n"
        fm = ["---", f"title: {title}", f"date: {date:%Y-%m-%d %H:%M:%S.%f}",
              f"urlname: {slug}", f"slug: {slug}", "tags: "]
        fm += [f"- {t}" for t in tags]
        fm.append("categories:")
        fm += [f"- {c}" for c in cats]
        fm += ["authorbox: false", "sidebar: false", "---", ""]
        return slug, "\n".join(fm) + body


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start-year", type=int, default=2017)
    ap.add_argument("--end-year", type=int, default=2024)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    g = Gen(a.seed)
    start = datetime(a.start_year, 1, 1)
    span = int((datetime(a.end_year + 1, 1, 1) - start).total_seconds())
    secs = sorted(g.r.randrange(span) for _ in range(a.n))
    made = set()
    total = 0
    for i, s in enumerate(secs):
        date = start + timedelta(seconds=s, microseconds=g.r.randrange(1000000))
        slug, text = g.post(i, a.seed, date)
        assert slug not in made
        made.add(slug)
        d = os.path.join(a.outdir, str(date.year))
        if i == 0 or not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{date:%Y-%m-%d}-{slug}.md")
        data = text.encode()
        with open(path, "wb") as f:
            f.write(data)
        ts = date.replace(tzinfo=timezone.utc).timestamp()
        os.utime(path, (ts, ts))
        total += len(data)
    dt = time.perf_counter() - t0
    print(f"wrote {a.n} posts, {total / 1e6:.1f} MB, to {a.outdir} in {dt:.2f}s (seed {a.seed})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
