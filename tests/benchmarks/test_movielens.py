"""The real-data check's converter: RecBole's atomic ml-100k files -> ml-100k's layout -> the real ingest job."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.movielens import PREFIX, write_ml100k
from jobs.ingest.run import ingest

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n"
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "242\tKolya\t1996\tComedy\n"
    "302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller\n"
    "267\tunknown\t\tunknown\n"
)
USER = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n196\t49\tM\twriter\t55105\n186\t39\tF\texecutive\t00000\n"


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for kind, text in (("inter", INTER), ("item", ITEM), ("user", USER)):
            zf.writestr(PREFIX + kind, text)
    return path


def test_converted_files_ingest_as_ml100k(wheel: Path, tmp_path: Path) -> None:
    raw = tmp_path / "ml-100k"
    assert write_ml100k(wheel, raw) == {"ratings": 3, "items": 3, "users": 2}
    report = ingest(raw, tmp_path / "landing")
    assert report.format == "ml-100k" and report.n_rejected == 0
    assert (report.n_interactions, report.n_items, report.n_users) == (3, 3, 2)
    items = pq.read_table(tmp_path / "landing" / "items.parquet").to_pandas().set_index("item_id")
    assert items.loc["302", "title"] == "L.A. Confidential (1997)"
    assert set(items.loc["302", "genres"].split("|")) == {"Crime", "Film-Noir", "Mystery", "Thriller"}
    assert items.loc["242", "title"] == "Kolya (1996)" and items.loc["242", "genres"] == "Comedy"
