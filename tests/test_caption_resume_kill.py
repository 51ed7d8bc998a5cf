"""kill -9 in the middle of `rsq caption`, then resume: nothing lost, nothing duplicated."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from chat_server import chat_server, echo_captions


def _count(db_path) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM captions").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_kill_9_mid_run_then_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    db_path = out / "captions.sqlite"

    def slow(request, call):
        status, body, _ = echo_captions(request, call)
        return status, body, 0.03

    with chat_server(slow) as server:
        command = [
            sys.executable, "-m", "rsq", "caption", "data:ucm:test", "--limit", "60", "--batch-size", "4",
            "--model", f"openai:{server['url']}#tiny", "--backend-opt", "concurrency=1", "--prompt", "brief",
            "--data", str(data_dir), "--out", str(out),
        ]
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while _count(db_path) < 12 and time.time() < deadline and process.poll() is None:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_at = _count(db_path)
        assert 12 <= killed_at < 60, "the run should be interrupted mid-way"
        assert killed_at % 4 == 0  # whole batches only: each batch is one transaction
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        requests = len(server["requests"])
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT tile_id, status FROM captions").fetchall()
    assert len(rows) == 60 and len({tile for tile, _ in rows}) == 60
    assert all(status == "ok" for _, status in rows)
    assert requests <= 60 + 4  # at most the batch in flight was captioned twice
