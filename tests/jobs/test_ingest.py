"""jobs.ingest on tiny hand-made ml-100k, ml-1m and ml-latest directories.

Every expected row below was written by hand from the raw lines in the same test.
Timestamps use well-known instants: 1e9 s = 2001-09-09 01:46:40 UTC, 1.5e9 = 2017-07-14
02:40:00, 1.6e9 = 2020-09-13 12:26:40, 1.7e9 = 2023-11-14 22:13:20, and
978307200 = 2001-01-01 00:00:00 UTC.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.ingest.report import IngestError
from jobs.ingest.run import ingest

REPO = Path(__file__).resolve().parents[2]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def flags(*genres: int) -> str:
    """ml-100k's 19 genre flags with the given positions set."""
    return "|".join("1" if i in genres else "0" for i in range(19))


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_bytes(
        b"1\t10\t4\t1000000000\n"
        b"2\t20\t3\t1500000000\n"
        b"1\t20\t5\t1600000000\n"
        b"3\tx y\t3\t1600000000\n"  # unparsable item id
        b"2\t10\n"  # wrong field count
        b"2\t10\t2\tyesterday\n"  # unparsable timestamp
    )
    (d / "u.item").write_bytes(
        (
            f"10|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{flags(3, 4, 5)}\n"
            f"20|Café au Lait (Métisse) (1993)|01-Jan-1993||http://x|{flags(5, 14)}\n"
            f"30|unknown|||http://x|{flags(0)}\n"
            f"40|Short Cuts|01-Jan-1993||http://x|{flags(8)}\n"
            f"50|Bad Flags (1990)|01-Jan-1990||http://x|{flags(8).replace('1', '2')}\n"
        ).encode("latin-1")
    )
    (d / "u.user").write_bytes(b"1|24|M|technician|85711\n2|53|F|other|94043\n3|old|M|writer|12345\n")
    return d


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    d = tmp_path / "ml-1m"
    d.mkdir()
    (d / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Misérables, Les (1995)::Drama|Musical\n"
        "3::Broken Row\n".encode("latin-1")
    )
    (d / "ratings.dat").write_bytes(
        b"1::1::5::978307200\n1::2::3::978310800\n2::1::4::1000000000\n2::2::x::1000000000\n"
    )
    (d / "users.dat").write_bytes(b"1::F::1::10::48067\n2::M::56::16::70072\n")
    return d


@pytest.fixture
def mllatest(tmp_path: Path) -> Path:
    d = tmp_path / "ml-latest"
    d.mkdir()
    (d / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        "6,Heat (1995),Action|Crime|Thriller\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        '12,"Babylon 5 (1993-1998)",(no genres listed)\n'
        "13,Broken,row,with,commas\n",
        encoding="utf-8",
    )
    (d / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,1000000000\n"
        "1,6,4.5,1500000000\n"
        "7,11,7.5,1700000000\n"  # out of range: landed, dbt's range test catches it
        "7,12,,1700000000\n",  # no rating: unparsable
        encoding="utf-8",
    )
    (d / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n"
        '2,6,"dark, gritty",1500000000\n'
        "3,6,Al Pacino,1500000001\n"
        "4,6,DARK, GRITTY,1500000002\n"  # unquoted comma: wrong field count
        '4,6,"Dark,  gritty",1500000003\n'
        "5,1,pixar,1500000004\n",
        encoding="utf-8",
    )
    (d / "links.csv").write_text(
        "movieId,imdbId,tmdbId\n1,0114709,862\n6,0113277,949\n11,0112346,\n", encoding="utf-8"
    )
    return d


def read(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def interactions(out: Path) -> list[dict]:
    rows = read(out / "interactions")
    return sorted(rows, key=lambda r: (r["event_ts"], r["user_id"] or "", r["item_id"] or ""))


def file_report(out: Path, name: str) -> dict:
    report = json.loads((out / "ingest_report.json").read_text())
    return next(f for f in report["files"] if f["file"] == name)


def test_ml100k_rows_and_report(ml100k: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    report = ingest(ml100k, out, max_malformed_share=0.6)

    assert report.format == "ml-100k"
    assert read(out / "items.parquet") == [
        # Landed as the source has them: dbt staging takes the year out of the title and maps
        # genres onto the vocabulary ("Children's" -> "Children", "unknown" -> "(other)").
        {"item_id": "10", "title": "Toy Story (1995)", "genres": "Animation|Children's|Comedy", "year": 1995, "tags": "", "description": ""},
        {"item_id": "20", "title": "Café au Lait (Métisse) (1993)", "genres": "Comedy|Romance", "year": 1993, "tags": "", "description": ""},
        {"item_id": "30", "title": "unknown", "genres": "unknown", "year": None, "tags": "", "description": ""},
        # The year column is u.item's release date.
        {"item_id": "40", "title": "Short Cuts", "genres": "Drama", "year": 1993, "tags": "", "description": ""},
    ]  # fmt: skip
    assert read(out / "users.parquet") == [
        {"user_id": "1", "gender": "M", "age": 24, "occupation": "technician", "zip_code": "85711"},
        {"user_id": "2", "gender": "F", "age": 53, "occupation": "other", "zip_code": "94043"},
    ]
    assert interactions(out) == [
        {"user_id": "1", "item_id": "10", "rating": 4.0, "event_type": "rating", "event_ts": utc(2001, 9, 9, 1, 46, 40)},
        {"user_id": "2", "item_id": "20", "rating": 3.0, "event_type": "rating", "event_ts": utc(2017, 7, 14, 2, 40)},
        {"user_id": "1", "item_id": "20", "rating": 5.0, "event_type": "rating", "event_ts": utc(2020, 9, 13, 12, 26, 40)},
    ]  # fmt: skip

    ratings = file_report(out, "u.data")
    assert ratings["rows_read"] == 6 and ratings["rows_written"] == 3
    assert ratings["rows_rejected"] == {"unparsable_id": 1, "wrong_field_count": 1, "unparsable_timestamp": 1}
    assert sorted((e["row"], e["reason"]) for e in ratings["examples"]) == [
        (4, "unparsable_id"),
        (5, "wrong_field_count"),
        (6, "unparsable_timestamp"),
    ]
    items = file_report(out, "u.item")
    assert (items["rows_read"], items["rows_written"], items["rows_rejected"]) == (
        5,
        4,
        {"unparsable_number": 1},
    )
    users = file_report(out, "u.user")
    assert (users["rows_read"], users["rows_written"], users["rows_rejected"]) == (
        3,
        2,
        {"unparsable_number": 1},
    )
    assert (report.n_interactions, report.n_items, report.n_users, report.n_rejected) == (3, 4, 2, 5)
    assert report.first_event_ts == "2001-09-09T01:46:40+00:00"
    assert report.last_event_ts == "2020-09-13T12:26:40+00:00"


def test_interaction_schema_is_the_contract(ml100k: Path, tmp_path: Path) -> None:
    ingest(ml100k, tmp_path / "landing", max_malformed_share=0.6)
    schema = pq.read_schema(tmp_path / "landing" / "interactions" / "part-00000.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [
        ("user_id", "string"),
        ("item_id", "string"),
        ("rating", "double"),
        ("event_type", "string"),
        ("event_ts", "timestamp[us, tz=UTC]"),
    ]
    items = pq.read_schema(tmp_path / "landing" / "items.parquet")
    assert [(f.name, str(f.type)) for f in items] == [
        ("item_id", "string"),
        ("title", "string"),
        ("genres", "string"),
        ("year", "int32"),
        ("tags", "string"),
        ("description", "string"),
    ]


def test_ml1m_rows(ml1m: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    report = ingest(ml1m, out, max_malformed_share=0.4)

    assert report.format == "ml-1m"
    assert read(out / "items.parquet") == [
        {"item_id": "1", "title": "Toy Story (1995)", "genres": "Animation|Children's|Comedy", "year": None, "tags": "", "description": ""},
        {"item_id": "2", "title": "Misérables, Les (1995)", "genres": "Drama|Musical", "year": None, "tags": "", "description": ""},
    ]  # fmt: skip
    # users.dat is UserID::Gender::Age::Occupation::Zip; occupation codes 10 and 16 are named.
    assert read(out / "users.parquet") == [
        {"user_id": "1", "gender": "F", "age": 1, "occupation": "K-12 student", "zip_code": "48067"},
        {"user_id": "2", "gender": "M", "age": 56, "occupation": "self-employed", "zip_code": "70072"},
    ]
    assert interactions(out) == [
        {"user_id": "1", "item_id": "1", "rating": 5.0, "event_type": "rating", "event_ts": utc(2001, 1, 1)},
        {
            "user_id": "1",
            "item_id": "2",
            "rating": 3.0,
            "event_type": "rating",
            "event_ts": utc(2001, 1, 1, 1),
        },
        {
            "user_id": "2",
            "item_id": "1",
            "rating": 4.0,
            "event_type": "rating",
            "event_ts": utc(2001, 9, 9, 1, 46, 40),
        },
    ]
    assert file_report(out, "ratings.dat")["rows_rejected"] == {"unparsable_rating": 1}
    assert file_report(out, "ratings.dat")["examples"][0]["text"] == "2::2::x::1000000000"
    assert file_report(out, "movies.dat")["rows_rejected"] == {"wrong_field_count": 1}


def test_ml10m_utf8_dat_files_tags_and_no_users_file(tmp_path: Path) -> None:
    d = tmp_path / "ml-10m"
    d.mkdir()
    (d / "movies.dat").write_text("5::Amélie (2001)::Comedy|Romance\n", encoding="utf-8")
    (d / "ratings.dat").write_text("9::5::4.5::1000000000\n", encoding="utf-8")
    (d / "tags.dat").write_text(
        "9::5::paris::1000000001\n9::5::Paris::1000000002\n8::5::quirky::1000000003\n"
    )
    out = tmp_path / "landing"
    report = ingest(d, out)
    assert report.format == "ml-1m"
    assert read(out / "items.parquet") == [
        {"item_id": "5", "title": "Amélie (2001)", "genres": "Comedy|Romance", "year": None, "tags": "paris|quirky", "description": ""}
    ]  # fmt: skip
    assert read(out / "users.parquet") == [
        {"user_id": "9", "gender": None, "age": None, "occupation": None, "zip_code": None}
    ]
    assert interactions(out) == [
        {
            "user_id": "9",
            "item_id": "5",
            "rating": 4.5,
            "event_type": "rating",
            "event_ts": utc(2001, 9, 9, 1, 46, 40),
        }
    ]


def test_mllatest_rows_tags_and_derived_users(mllatest: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    report = ingest(mllatest, out, max_malformed_share=0.3)

    assert report.format == "ml-latest"
    assert read(out / "items.parquet") == [
        {"item_id": "1", "title": "Toy Story (1995)", "genres": "Adventure|Animation|Children|Comedy|Fantasy", "year": None, "tags": "pixar", "description": ""},
        # "dark, gritty" was tagged twice (case and spacing differ), so it comes first.
        {"item_id": "6", "title": "Heat (1995)", "genres": "Action|Crime|Thriller", "year": None, "tags": "dark, gritty|Al Pacino", "description": ""},
        {"item_id": "11", "title": "American President, The (1995)", "genres": "Comedy|Drama|Romance", "year": None, "tags": "", "description": ""},
        {"item_id": "12", "title": "Babylon 5 (1993-1998)", "genres": "(no genres listed)", "year": None, "tags": "", "description": ""},
    ]  # fmt: skip
    # No users file in ml-latest: every rating user, attributes unknown.
    assert read(out / "users.parquet") == [
        {"user_id": "1", "gender": None, "age": None, "occupation": None, "zip_code": None},
        {"user_id": "7", "gender": None, "age": None, "occupation": None, "zip_code": None},
    ]
    assert interactions(out) == [
        {"user_id": "1", "item_id": "1", "rating": 4.0, "event_type": "rating", "event_ts": utc(2001, 9, 9, 1, 46, 40)},
        {"user_id": "1", "item_id": "6", "rating": 4.5, "event_type": "rating", "event_ts": utc(2017, 7, 14, 2, 40)},
        {"user_id": "7", "item_id": "11", "rating": 7.5, "event_type": "rating", "event_ts": utc(2023, 11, 14, 22, 13, 20)},
    ]  # fmt: skip
    assert file_report(out, "ratings.csv")["rows_rejected"] == {"unparsable_rating": 1}
    assert file_report(out, "movies.csv")["rows_rejected"] == {"wrong_field_count": 1}
    tags = file_report(out, "tags.csv")
    assert (tags["rows_read"], tags["rows_written"], tags["rows_rejected"]) == (
        5,
        4,
        {"wrong_field_count": 1},
    )
    links = file_report(out, "links.csv")
    assert (links["rows_read"], links["rows_rejected"]) == (3, {})


def test_null_keys_are_landed_and_reported(mllatest: Path, tmp_path: Path) -> None:
    (mllatest / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n,1,4.0,1000000000\n1,6,3.0,1000000000\n"
    )
    out = tmp_path / "landing"
    ingest(mllatest, out, max_malformed_share=0.3)
    assert [(r["user_id"], r["item_id"]) for r in interactions(out)] == [(None, "1"), ("1", "6")]
    assert file_report(out, "ratings.csv")["warnings"] == {"null_user_id": 1}


def test_small_chunks_give_the_same_rows_in_several_parts(ml100k: Path, tmp_path: Path) -> None:
    ingest(ml100k, tmp_path / "one", max_malformed_share=0.6)
    report = ingest(ml100k, tmp_path / "many", max_malformed_share=0.6, chunk_bytes=40)
    # 40-byte blocks hold rows 1-2, 3-4 and 5-6; the last has nothing landable, so no part.
    assert report.n_interaction_parts == 2
    assert interactions(tmp_path / "many") == interactions(tmp_path / "one")
    ratings = file_report(tmp_path / "many", "u.data")
    assert sorted((e["row"], e["reason"]) for e in ratings["examples"]) == [
        (4, "unparsable_id"),
        (5, "wrong_field_count"),
        (6, "unparsable_timestamp"),
    ]


def test_too_many_malformed_rows_fail_and_keep_the_previous_landing(
    ml100k: Path, mllatest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "landing"
    ingest(mllatest, out, max_malformed_share=0.3)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    with pytest.raises(IngestError, match=r"u\.data: 3 of 6 rows malformed"):
        ingest(ml100k, out)  # default: at most 1% malformed

    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "landing",
        "ml-100k",
        "ml-latest",
    ]  # no temp dirs left


def test_rerun_replaces_the_whole_landing(ml100k: Path, mllatest: Path, tmp_path: Path) -> None:
    out = tmp_path / "landing"
    ingest(ml100k, out, max_malformed_share=0.6, chunk_bytes=40)
    assert len(list((out / "interactions").glob("part-*.parquet"))) == 2
    ingest(mllatest, out, max_malformed_share=0.3)
    # No stale parts of the first run survive next to the second run's single part.
    assert sorted(p.name for p in (out / "interactions").iterdir()) == ["part-00000.parquet"]
    assert [r["item_id"] for r in read(out / "items.parquet")] == ["1", "6", "11", "12"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "ml-100k", "ml-latest"]


def run_cli(*args: str, env_data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if env_data_dir is not None:
        env["LAMBDAREC_DATA_DIR"] = str(env_data_dir)
    return subprocess.run(
        [sys.executable, "-m", "jobs.ingest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_fails_cleanly_and_summarises(ml100k: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    failed = run_cli("--raw-dir", str(ml100k), env_data_dir=data)
    assert failed.returncode == 1
    assert "too many malformed rows" in failed.stderr and "wrong_field_count=1" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (data / "landing").exists()

    ok = run_cli("--raw-dir", str(ml100k), "--max-malformed-share", "0.6", env_data_dir=data)
    assert ok.returncode == 0, ok.stderr
    assert "interactions: 3 in 1 part(s), 2 users x 2 items" in ok.stdout
    assert "rejected rows: 5" in ok.stdout
    assert (data / "landing" / "ingest_report.json").is_file()  # default out dir: settings.landing_dir


def test_cli_unknown_directory_layout(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("hello")
    result = run_cli("--raw-dir", str(tmp_path / "raw"), "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "no ratings file found" in result.stderr and "notes.txt" in result.stderr
    assert "Traceback" not in result.stderr
