"""The progress helper: a bar on a terminal, quiet (or plain lines) elsewhere."""

from __future__ import annotations

import io

from oculi.progress import Progress, counted, file_lines


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal() -> None:
    out = Terminal()
    with Progress("fetching models", 4, out) as bar:
        bar.update(1, "yunet")
        bar.log("model yunet: 0.2 MB")
        bar.update(4, "done")
    text = out.getvalue()
    assert "\r" in text and "fetching models [" in text and "] 4/4 done" in text
    assert "model yunet: 0.2 MB\n" in text and text.endswith("\n")


def test_quiet_in_a_pipe() -> None:
    out = io.StringIO()
    with Progress("redacting frames", 100, out) as bar:
        for i in range(101):
            bar.update(i)
    assert out.getvalue() == ""


def test_plain_lines_in_a_pipe_when_asked() -> None:
    out = io.StringIO()
    with Progress("loading models", 2, out, lines=True) as bar:
        bar.update(0, "face detection")
        bar.update(1)  # no note: nothing to say
        bar.update(2, "done")
    assert out.getvalue().splitlines() == [
        "loading models: [0/2] face detection",
        "loading models: [2/2] done",
    ]


def test_counted_passes_items_through_and_counts_them() -> None:
    out = Terminal()
    with Progress("exporting", None, out) as bar:
        assert list(counted("abc", bar)) == ["a", "b", "c"]
    assert bar.done == 3 and "exporting: 3" in out.getvalue()


def test_file_lines_counts_the_file_first(tmp_path, monkeypatch) -> None:
    out = Terminal()
    monkeypatch.setattr("sys.stderr", out)
    path = tmp_path / "c.jsonl"
    path.write_text("a\nb\n")
    with open(path) as f:
        assert list(file_lines(f, "importing")) == ["a\n", "b\n"]
    assert "importing [" in out.getvalue() and "2/2" in out.getvalue()
