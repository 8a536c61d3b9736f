"""Soak test (issue 8): churn + feed load + kill -9 + broken files + a 70% delete/restore + the
content folder vanishing, under `feedsvc serve` with a webhook endpoint and a WebSub subscription.

A receiver process (loopback) records every webhook and WebSub distribution; a load process GETs
random feeds and checks every body; this process runs a scripted, seeded churn of the content
folder and records, for every change, the events it must cause and when it was made.

Run:  .venv/bin/python bench/soak.py [--posts 2000] [--seconds 180] [--workers 2] [--interval 1.0]
          [--database-url URL] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from _common import HOST, PG_DEFAULT, REPO, VENV_BIN, WORKDIR, Receiver, children, free_port, get, pg_schema

TOKEN = "soak-admin-token"
NEW_POST = "---\ntitle: Soak post {n}\ndate: {date}\nslug: {slug}\ntags: [soak]\ncategories: [notes]\n---\nSoak body {n}.\n"
BROKEN = "---\ntitle: [unclosed\ndate: 2025-01-01 00:00:00\n---\nBroken on purpose.\n"


# ------------------------------------------------------------------ receiver (own process)


def receiver(port_q: Any) -> None:
    """Records webhooks (type, slug of data.url, webhook-id, arrival) and WebSub distributions;
    echoes hub.challenge; serves its records as JSON at GET /records."""
    lock = threading.Lock()
    rec: dict[str, Any] = {"hooks": [], "bad_hooks": 0, "dists": 0, "bad_dists": 0, "last_dist": "", "verified": 0}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: bytes = b"", ctype: str = "text/plain") -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/records":
                with lock:
                    return self._reply(json.dumps(rec).encode(), "application/json")
            query = dict(urllib.parse.parse_qsl(url.query))
            if query.get("hub.mode") == "subscribe":
                with lock:
                    rec["verified"] += 1
            self._reply(query.get("hub.challenge", "").encode())

        def do_POST(self) -> None:  # noqa: N802
            at = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._reply()
            with lock:
                if self.path == "/hook":
                    try:
                        msg = json.loads(body)
                        slug = msg["data"]["url"].rstrip("/").rsplit("/", 1)[-1]
                        rec["hooks"].append([at, msg["type"], slug, self.headers.get("webhook-id", ""),
                                             str(msg["data"].get("title", ""))])
                    except (ValueError, KeyError, TypeError, AttributeError):
                        rec["bad_hooks"] += 1
                else:
                    rec["dists"] += 1
                    rec["bad_dists"] += 0 if check_body(body, "xml") else 1
                    rec["last_dist"] = hashlib.sha256(body).hexdigest()

        def log_message(self, *args: Any) -> None:
            pass

    server = Receiver((HOST, 0), Handler)
    port_q.put(server.server_address[1])
    server.serve_forever()


# ------------------------------------------------------------------ load (own process)


def check_body(body: bytes, kind: str) -> bool:
    """XML: lxml parses it and feedparser reports no bozo; JSON: an object with a list of items."""
    if kind == "json":
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        return isinstance(doc, dict) and isinstance(doc.get("items"), list)
    import feedparser
    from lxml import etree

    try:
        etree.fromstring(body)
    except etree.XMLSyntaxError:
        return False
    return not feedparser.parse(body).bozo


def load(port: int, paths: list[str], seed: int, threads: int, warm: Any, stop: Any, out: Any, max_seconds: float) -> None:
    """Warm-up (every path once in each encoding), then random GETs until ``stop`` (bounded)."""
    import http.client

    import brotli

    seen: dict[str, str] = {}  # ETag -> digest of the decoded body (same ETag, other bytes: a conflict)
    valid: set[str] = set()
    total: Counter[str] = Counter()
    lock = threading.Lock()

    def fetch(conn: Any, path: str, enc: str, etag: str | None, stats: Counter[str]) -> tuple[Any, str | None]:
        headers = {"Accept-Encoding": enc} | ({"If-None-Match": etag} if etag else {})
        try:
            conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            stats["connection errors"] += 1
            if conn:
                conn.close()
            return None, None
        stats["requests"] += 1
        stats[f"status {resp.status}"] += 1
        if resp.will_close:
            conn.close()
            conn = None
        if resp.status != 200:
            return conn, etag if resp.status == 304 else None
        try:
            coding = resp.getheader("Content-Encoding", "identity")
            if coding not in (enc, "identity"):
                raise ValueError(coding)
            data = gzip.decompress(body) if coding == "gzip" else brotli.decompress(body) if coding == "br" else body
        except Exception:  # noqa: BLE001 - any decoding failure is a malformed body
            stats["malformed"] += 1
            return conn, None
        digest, tag = hashlib.sha256(data).hexdigest(), resp.getheader("ETag", "")
        with lock:
            known, seen[tag] = seen.get(tag), seen.get(tag, digest)
            fresh = digest not in valid
            valid.add(digest)
        if known not in (None, digest):
            stats["etag conflicts"] += 1
        if fresh and not check_body(data, "json" if path.endswith(".json") else "xml"):
            stats["malformed"] += 1
            valid.discard(digest)
        return conn, tag

    def worker(n: int, jobs: list[tuple[str, str]] | None) -> None:
        rnd, stats, conn = random.Random(seed * 100 + n), Counter(), None
        etags: dict[tuple[str, str], str] = {}
        deadline = time.monotonic() + max_seconds
        for i in range(10**9):
            if stop.is_set() or time.monotonic() > deadline or (jobs is not None and i >= len(jobs)):
                break
            path, enc = jobs[i] if jobs is not None else (rnd.choice(paths), rnd.choice(("identity", "gzip", "br")))
            conditional = etags.get((path, enc)) if rnd.random() < 0.5 else None
            conn, tag = fetch(conn, path, enc, conditional, stats)
            if tag:
                etags[(path, enc)] = tag
        with lock:
            total.update(stats)

    jobs = [(p, e) for p in paths for e in ("identity", "gzip", "br")]
    pool = [threading.Thread(target=worker, args=(n, jobs[n::threads])) for n in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    warm.set()
    pool = [threading.Thread(target=worker, args=(n, None)) for n in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    out.put(dict(total))


# ------------------------------------------------------------------ the soak


def rss_mb(pid: int) -> float:
    """Sum of VmRSS of a process and its children (gunicorn master + workers), MiB."""
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            total += next(int(line.split()[1]) for line in Path(f"/proc/{p}/status").read_text().splitlines() if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            pass
    return total


nan = float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: Path, port: int, rport: int, server: subprocess.Popen[bytes]) -> None:
        self.args, self.tmp, self.port, self.rport, self.server = args, tmp, port, rport, server
        self.content = tmp / "content"
        self.rnd = random.Random(args.seed)
        self.iv = args.interval
        self.expected: list[tuple[float, str, str, str]] = []  # (made, type, slug, kind)
        self.marks: dict[int, str] = {}  # position in expected -> a mark the change leaves in the title
        self.notes: dict[str, Any] = {}
        files = sorted(self.content.rglob("*.md"))
        self.files = {p.name[11:-3]: p for p in files}  # gen_corpus: <year>/<YYYY-MM-DD>-<slug>.md
        slugs = sorted(self.files)
        self.quiet = set(self.rnd.sample(slugs, min(20, len(slugs) // 10)))  # only broken and restored: no event
        self.pool = [s for s in slugs if s not in self.quiet]
        self.added: list[str] = []
        self.n = 0
        self.phases: list[tuple[float, str]] = [(0.0, "churn")]  # (monotonic, label): where surplus webhooks arrived

    # -- helpers
    def expect(self, type_: str, slug: str, kind: str, made: float | None = None, title: str = "") -> None:
        """A change that must make one event; ``title``: a mark in the title it leaves."""
        if title:
            self.marks[len(self.expected)] = title
        self.expected.append((made or time.monotonic(), type_, slug, kind))

    def merged(self, hooks: list[Any]) -> set[int]:
        """Expected edits that reached the receiver inside an event of another type: a scan that
        sees a post restored and then edited, or published and then edited, makes one
        ``post.published`` with the edited content (one event per observed change, not per
        write). Such an edit is merged, not missing."""
        titles: dict[tuple[str, str], list[str]] = defaultdict(list)
        for _, type_, slug, _, title, *_ in hooks:
            titles[(type_, slug)].append(title)
        found = set()
        for position, mark in self.marks.items():
            _, type_, slug, _ = self.expected[position]
            if not any(mark in title for title in titles[(type_, slug)]) and any(
                    mark in title for (t, s), got in titles.items() if s == slug and t != type_ for title in got):
                found.add(position)
        return found

    def write(self, path: Path, text: str | bytes) -> None:
        tmp = path.parent / f".{path.name}.tmp"  # hidden: never read half-written
        tmp.write_bytes(text.encode() if isinstance(text, str) else text)
        os.replace(tmp, path)

    def health(self) -> dict[str, Any]:
        try:
            status, _, body = get(self.port, "/healthz", timeout=10)
            return json.loads(body) if status == 200 else {"http": status}
        except (OSError, ValueError):
            return {"http": "connection error"}

    def poll(self, pred: Any, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if pred(self.health()):
                return True
            time.sleep(0.1)
        return False

    def records(self) -> dict[str, Any]:
        return json.loads(get(self.rport, "/records", timeout=30)[2])

    def missing(self) -> int:
        hooks = self.records()["hooks"]
        got = Counter((t, s) for _, t, s, *_ in hooks)
        merged = self.merged(hooks)
        want = Counter((t, s) for n, (_, t, s, _) in enumerate(self.expected) if n not in merged)
        return sum(max(0, n - got[k]) for k, n in want.items())

    def settle(self, seconds: float) -> None:
        """Wait (bounded) until every expected event so far has been received."""
        deadline = time.monotonic() + seconds
        while self.missing() and time.monotonic() < deadline:
            time.sleep(0.2)

    def pause(self) -> None:
        time.sleep(self.iv * self.rnd.uniform(0.5, 1.5))

    # -- churn steps
    def edit(self) -> None:
        slug = self.rnd.choice(self.pool)
        path = self.files[slug]
        text = re.sub(r"^title: (.*?)(?: \(soak edit \d+\))?$", rf"title: \1 (soak edit {self.n})", path.read_text(), count=1, flags=re.M)
        self.write(path, text)
        self.expect("post.updated", slug, "edit", title=f"(soak edit {self.n})")

    def add(self) -> None:
        slug = f"soak-{self.args.seed}-{self.n}"
        date = f"2025-01-01 00:{self.n // 60 % 60:02d}:{self.n % 60:02d}"  # newer than the corpus: tops the site feed
        self.write(self.content / f"{slug}.md", NEW_POST.format(n=self.n, slug=slug, date=date))
        self.expect("post.published", slug, "add")
        self.added.append(slug)

    def delete(self) -> None:
        if len(self.added) > 1:
            slug = self.added.pop(0)
            (self.content / f"{slug}.md").unlink()
            self.expect("post.deleted", slug, "delete")

    def broken_new(self) -> None:
        """A new file with bad YAML: no event, /healthz lists it; once fixed it is a new post."""
        slug = f"soak-broken-{self.args.seed}-{self.n}"
        path = self.content / f"{slug}.md"
        self.write(path, BROKEN)
        listed = self.poll(lambda h: any(e["path"].endswith(path.name) for e in h.get("errors", ())), 10 * self.iv + 5)
        self.notes["broken files listed in /healthz"] = self.notes.get("broken files listed in /healthz", 0) + listed
        self.write(path, NEW_POST.format(n=self.n, slug=slug, date=f"2025-01-02 00:{self.n // 60 % 60:02d}:{self.n % 60:02d}"))
        self.expect("post.published", slug, "fixed")
        self.added.append(slug)

    def broken_existing(self) -> None:
        """A good post broken then restored to its exact bytes: no event (the last good version is served)."""
        path = self.files[self.rnd.choice(sorted(self.quiet))]
        original = path.read_bytes()
        self.write(path, BROKEN)
        self.poll(lambda h: any(e["path"].endswith(path.name) for e in h.get("errors", ())), 10 * self.iv + 5)
        self.write(path, original)

    def delete_restore(self) -> None:
        """mv X .X; sleep 3; mv .X X: one post.deleted then one post.published."""
        slug = self.rnd.choice(self.pool)
        path, hidden = self.files[slug], self.files[slug].with_name("." + self.files[slug].name)
        os.rename(path, hidden)
        self.expect("post.deleted", slug, "delete-restore")
        time.sleep(max(3.0, 3 * self.iv))
        os.rename(hidden, path)
        self.expect("post.published", slug, "delete-restore")

    # -- one-offs
    def mass(self) -> None:
        self.settle(30)
        before = self.health().get("posts", 0)
        gone = self.rnd.sample(self.pool, min(len(self.pool), int(0.7 * before)))
        trash = self.tmp / "trash"
        trash.mkdir()
        made = time.monotonic()
        for n, slug in enumerate(gone):
            os.rename(self.files[slug], trash / f"{n}.md")
            self.expect("post.deleted", slug, "mass-delete", made)
        guard = self.poll(lambda h: h.get("status") == "degraded", 3 * self.iv + 2)
        # /healthz comes from one worker, which may lag a step behind: the guard applies all or nothing
        applied = self.poll(lambda h: h.get("posts", before) < before - len(gone) // 2, 20 * self.iv + 30)
        self.notes["mass delete"] = {"posts": len(gone), "of": before, "guard tripped (degraded seen)": guard,
                                     "applied": applied, "seconds to apply": round(time.monotonic() - made, 2)}
        time.sleep(2 * self.iv)
        made = time.monotonic()
        for n, slug in enumerate(gone):
            os.rename(trash / f"{n}.md", self.files[slug])
            self.expect("post.published", slug, "mass-restore", made)
        restored = self.poll(lambda h: h.get("posts", 0) > before - len(gone) // 2, 20 * self.iv + 30)
        self.notes["mass delete"]["restore seen in /healthz after s"] = round(time.monotonic() - made, 2) if restored else None
        self.settle(max(60.0, 0.2 * len(gone)))  # drained before the churn goes on

    def vanish(self) -> None:
        self.settle(30)
        away = self.tmp / "content.away"
        t0 = time.monotonic()
        os.rename(self.content, away)
        degraded = self.poll(lambda h: h.get("status") == "degraded", 3 * self.iv + 1)
        time.sleep(max(0.0, t0 + 3 * self.iv - time.monotonic()))
        os.rename(away, self.content)
        ok = self.poll(lambda h: h.get("status") == "ok", 10 * self.iv + 10)
        time.sleep(3 * self.iv)
        hooks = sum(1 for at, *_ in self.records()["hooks"] if at >= t0)
        self.notes["folder vanishing"] = {"degraded seen": degraded, "ok again": ok, "webhooks received meanwhile (want 0)": hooks}

    def kill(self) -> None:
        workers = sorted(children(self.server.pid))
        if not workers:
            self.notes["kill -9"] = "no worker found"
            return
        os.kill(workers[0], signal.SIGKILL)
        t0, fails, back = time.monotonic(), 0, None
        while time.monotonic() - t0 < 15:
            fails += "http" in self.health()
            if back is None and len(children(self.server.pid)) == self.args.workers and workers[0] not in children(self.server.pid):
                back = round(time.monotonic() - t0, 2)
            time.sleep(0.1)
        self.notes["kill -9"] = {"pid": workers[0], "failed /healthz probes in 15 s": fails, "replacement worker after s": back}

    def churn(self, seconds: float) -> None:
        start = time.monotonic()
        end = start + seconds
        oneoffs = [(0.25, self.mass), (0.5, self.vanish), (0.7, self.kill)]
        steps = [self.edit, self.add, self.edit, self.delete, self.broken_new, self.edit, self.broken_existing, self.delete_restore]
        while time.monotonic() < end:
            for step in steps:
                if oneoffs and time.monotonic() >= start + oneoffs[0][0] * seconds:
                    began, job = time.monotonic(), oneoffs.pop(0)[1]
                    self.phases.append((began, job.__name__))
                    job()
                    self.phases.append((time.monotonic(), f"churn after {job.__name__}"))
                    start, end = start + time.monotonic() - began, end + time.monotonic() - began  # not churn time
                if time.monotonic() >= end:
                    break
                self.n += 1
                step()
                self.pause()
        for _, job in oneoffs:  # a run too short to reach them still does them once
            self.phases.append((time.monotonic(), job.__name__))
            job()
        self.phases.append((time.monotonic(), "drain"))

    # -- figures
    def report(self, recs: dict[str, Any]) -> dict[str, Any]:
        firsts: dict[str, tuple[float, str, str]] = {}
        redeliveries = 0
        for at, type_, slug, wid, *_ in recs["hooks"]:
            if wid in firsts:
                redeliveries += 1
            else:
                firsts[wid] = (at, type_, slug)
        got: dict[tuple[str, str], list[float]] = defaultdict(list)
        for at, type_, slug in firsts.values():
            got[(type_, slug)].append(at)
        merged = self.merged(recs["hooks"])
        want: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        for position, (made, type_, slug, kind) in enumerate(self.expected):
            if position not in merged:
                want[(type_, slug)].append((made, kind))
        missing = extra = dups = 0
        missed: list[str] = []  # "type post (kind, seconds after the first expected change)"
        started = min((made for made, *_ in self.expected), default=0.0)
        latency: dict[str, list[float]] = defaultdict(list)
        surplus: Counter[str] = Counter()  # "type, kind of the expected changes of that post, phase of arrival"
        for key in set(got) | set(want):
            arrivals, changes = sorted(got.get(key, [])), sorted(want.get(key, []))
            missing += max(0, len(changes) - len(arrivals))
            missed += [f"{key[0]} {key[1]} ({kind}, {made - started:.1f} s)" for made, kind in changes[len(arrivals):]]
            if changes:
                dups += max(0, len(arrivals) - len(changes))
            else:
                extra += len(arrivals)
            kinds = "+".join(sorted({k for _, k in changes})) or ("quiet" if key[1] in self.quiet else "none")
            for at in arrivals[len(changes):]:
                phase = [label for t, label in self.phases if t <= at][-1]
                surplus[f"{key[0]}, expected: {kinds}, arrived in: {phase}"] += 1
            for (made, kind), at in zip(changes, arrivals, strict=False):
                latency[kind if kind.startswith("mass") else "ordinary"].append(at - made)
        ordinary = latency["ordinary"]
        return {
            "events expected": len(self.expected), "by kind": dict(Counter(k for *_, k in self.expected)),
            "webhooks received": len(recs["hooks"]), "distinct webhook-ids": len(firsts),
            "merged (an edit seen with a restore or publication: one event with the edited content)": len(merged),
            "missing": missing, "missing events (type, post, change, when)": sorted(missed)[:10], "extra (unexpected)": extra, "duplicates (same change, other webhook-id)": dups,
            "redeliveries (same webhook-id)": redeliveries, "surplus webhooks by type, kind, phase": dict(surplus.most_common(12)), "malformed webhook bodies": recs["bad_hooks"],
            "latency ordinary p50 s": round(pct(ordinary, 0.5), 3), "latency ordinary p99 s": round(pct(ordinary, 0.99), 3),
            "latency ordinary max s": round(max(ordinary, default=float("nan")), 3),
            **{f"{kind}: change -> first / last event s": f"{min(latency[kind], default=nan):.2f} / {max(latency[kind], default=nan):.2f}"
               for kind in ("mass-delete", "mass-restore")},
            "websub verifications": recs["verified"], "websub distributions": recs["dists"],
            "websub malformed": recs["bad_dists"],
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=180, help="churn duration (plus set-up and drain)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interval", type=float, default=1.0, help="FEEDSVC_RELOAD_INTERVAL")
    ap.add_argument("--database-url", default="", help=f"default: a SQLite file in the temp dir; PostgreSQL: {PG_DEFAULT}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--load-threads", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (content, SQLite store) and print its path")
    ap.add_argument("--dump", type=Path, help="write expected events, webhooks and phases (monotonic times) to this JSON file")
    args = ap.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="soak-", dir=WORKDIR))
    schema = pg_schema(args.database_url, "soak") if args.database_url.startswith("postgresql") else None
    db = f"{args.database_url}?options=-csearch_path%3D{schema}" if schema else args.database_url or f"sqlite:///{tmp}/soak.sqlite"
    ctx = mp.get_context("fork")  # before any thread of this process exists
    port_q, warm, stop, out = ctx.Queue(), ctx.Event(), ctx.Event(), ctx.Queue()
    recv, loader, server = ctx.Process(target=receiver, args=(port_q,), daemon=True), None, None
    log = (WORKDIR / "soak-server.log").open("wb")
    try:
        subprocess.run([sys.executable, str(REPO / "tests" / "gen_corpus.py"), str(tmp / "content"), str(args.posts), "--seed", str(args.seed)],
                       check=True, stderr=subprocess.DEVNULL)
        recv.start()
        rport, port = port_q.get(timeout=30), free_port()
        (tmp / "soak.toml").write_text(f'[[webhooks]]\nurl = "http://{HOST}:{rport}/hook"\n')
        env = dict(os.environ, FEEDSVC_CONTENT_DIR=str(tmp / "content"), FEEDSVC_RELOAD_INTERVAL=str(args.interval),
                   FEEDSVC_DATABASE_URL=db, FEEDSVC_SITE_URL=f"http://{HOST}:{port}", FEEDSVC_ADMIN_TOKEN=TOKEN,
                   FEEDSVC_RETRY_SCHEDULE="1,2,5", FEEDSVC_CONFIG=str(tmp / "soak.toml"), FEEDSVC_ALLOW_PRIVATE_TARGETS="1",
                   FEEDSVC_LOG_LEVEL="WARNING")
        server = subprocess.Popen([str(VENV_BIN / "feedsvc"), "serve", "--bind", f"{HOST}:{port}", "--workers", str(args.workers)],
                                  cwd=tmp, env=env, stdout=log, stderr=log, start_new_session=True)
        soak = Soak(args, tmp, port, rport, server)
        if not soak.poll(lambda h: h.get("status") == "ok", 300):
            raise SystemExit("feedsvc did not become healthy; see bench/out/soak-server.log")
        started = time.monotonic()
        from lxml import etree

        opml = etree.fromstring(get(port, "/opml.xml")[2])
        paths = [urllib.parse.quote(urllib.parse.urlsplit(u).path, safe="/%")[: -len("rss.xml")] + f
                 for u in opml.xpath("//outline/@xmlUrl") for f in ("rss.xml", "atom.xml", "feed.json")]
        topic = f"http://{HOST}:{port}/atom.xml"
        form = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": f"http://{HOST}:{rport}/websub-cb"})
        import http.client

        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.request("POST", "/websub", form, {"Content-Type": "application/x-www-form-urlencoded"})
        sub_status = conn.getresponse().status
        conn.close()
        deadline = time.monotonic() + 30
        while not soak.records()["verified"] and time.monotonic() < deadline:
            time.sleep(0.1)
        loader = ctx.Process(target=load, args=(port, paths, args.seed, args.load_threads, warm, stop, out, args.seconds + 600), daemon=True)
        loader.start()
        warm.wait(120)
        rss_start = rss_mb(server.pid)
        soak.churn(args.seconds)
        drain = time.monotonic()
        soak.settle(60)  # retries (1, 2, 5 s) and kill -9 leases (30 s) included
        drain = round(time.monotonic() - drain, 1)
        time.sleep(max(5.0, 3 * args.interval))  # late duplicates
        stop.set()
        load_stats = out.get(timeout=120)
        rss_end = rss_mb(server.pid)
        recs = soak.records()
        if args.dump:
            args.dump.write_text(json.dumps({"expected": soak.expected, "hooks": recs["hooks"], "phases": soak.phases}))
        final_atom = hashlib.sha256(get(port, "/atom.xml")[2]).hexdigest()
        figures = {"posts": args.posts, "seconds": args.seconds, "workers": args.workers, "interval": args.interval,
                   "store": db.split(":")[0].split("+")[0], "seed": args.seed, "run seconds": round(time.monotonic() - started, 1),
                   "drain seconds (churn end -> all expected received)": drain,
                   "requests": load_stats.get("requests", 0),
                   "errors (5xx)": sum(v for k, v in load_stats.items() if k.startswith("status 5")),
                   "other non-2xx/304": sum(v for k, v in load_stats.items() if k.startswith("status ") and k[7] != "5" and k not in ("status 200", "status 304")),
                   "statuses": {k[7:]: v for k, v in sorted(load_stats.items()) if k.startswith("status ")},
                   "connection errors": load_stats.get("connection errors", 0), "malformed bodies": load_stats.get("malformed", 0),
                   "etag conflicts (same ETag, other bytes)": load_stats.get("etag conflicts", 0),
                   **soak.report(recs), "websub subscribe status": sub_status,
                   "websub last distribution == final /atom.xml": recs["last_dist"] == final_atom,
                   **soak.notes, "RSS start MiB": round(rss_start, 1), "RSS end MiB": round(rss_end, 1),
                   "RSS growth %": round(100 * (rss_end / rss_start - 1), 1) if rss_start else None}
    finally:
        stop.set()
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        for proc in (loader, recv):
            if proc is not None and proc.pid is not None:
                proc.terminate()
                proc.join(10)
        log.close()
        if schema:
            pg_schema(args.database_url, "soak", drop=schema)
        if args.keep:
            print(f"scratch folder kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = (WORKDIR / "soak-server.log").read_text(errors="replace")
    figures["server log tracebacks"] = text.count("Traceback (most recent call last)")
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        print(f"| {key} | {json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value} |")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
