"""What the studio says about a file it cannot open: one sentence, naming the real reason."""
import pytest

from app.studio.clip import ClipRejected, read_checked

TIMEOUT_MS = 60_000


@pytest.fixture
def messages(session):
    received = []
    session.message.connect(lambda level, text: received.append((level, text)))
    return received


def test_an_empty_file_is_called_empty(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ClipRejected, match=r"^empty\.wav: the file is empty \(0 bytes\)$"):
        read_checked(empty)


@pytest.mark.parametrize("content, expected", [
    (b"", "Could not open the file: clip.wav: the file is empty (0 bytes)."),
    (b"not audio", "Could not open the file: clip.wav: not a readable audio file (Format not recognised)."),
])
def test_the_studio_says_why_in_one_sentence(qtbot, session, messages, tmp_path, content, expected):
    path = tmp_path / "clip.wav"
    path.write_bytes(content)
    session.open_file(str(path))
    qtbot.waitUntil(lambda: any(level == "error" for level, _ in messages), timeout=TIMEOUT_MS)
    assert messages == [("error", expected)]
