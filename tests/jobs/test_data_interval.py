from __future__ import annotations

from pathlib import Path

import pytest

from jobs.data_interval import last_event_date, main


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        # 1112486027 = 2005-04-02T23:53:47Z; the unparsable row is ignored, not fatal.
        (
            "ratings.csv",
            "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,3,4,bad\n2,3,4,964982703\n",
            "2005-04-02",
        ),
        # 978302109 = 2000-12-31T22:35:09Z
        ("ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n", "2000-12-31"),
        # 891717742 = 1998-04-04T19:22:22Z
        ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n", "1998-04-04"),
    ],
)
def test_last_event_date_per_movielens_layout(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content)
    assert last_event_date(tmp_path) == expected


def test_missing_ratings_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--raw-dir", str(tmp_path)]) == 2
    assert "no ratings file" in capsys.readouterr().err
