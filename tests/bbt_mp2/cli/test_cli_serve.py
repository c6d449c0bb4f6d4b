"""``bbt-mp2 serve keys add|list|revoke`` and the serve argument checks (the server itself: tests/servers)."""

from __future__ import annotations

import json

from bbt_mp2.cli import main
from servers.storage import Storage


def test_keys_add_list_revoke(tmp_path, capsys):  # noqa: ANN001
    state = str(tmp_path / "state")
    assert main(["serve", "keys", "add", "--state-dir", state, "--tenant", "lab", "--budget", "500",
                 "--rate", "2"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("bbt_") and "budget 500 calls" in out.err
    storage = Storage(f"sqlite:///{tmp_path / 'state' / 'server.db'}")
    assert storage.authenticate(key).tenant == "lab"
    assert main(["serve", "keys", "list", "--state-dir", state]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed == [{"id": 1, "tenant": "lab", "prefix": key[:12], "budget": 500, "used": 0, "remaining": 500,
                       "rate": 2.0, "revoked": False}]
    assert key not in json.dumps(listed) and key not in (tmp_path / "state" / "server.db").read_bytes().decode(
        "latin-1")  # stored hashed only
    assert main(["serve", "keys", "revoke", "1", "--state-dir", state]) == 0
    assert storage.authenticate(key) is None
    assert main(["serve", "keys", "revoke", "7", "--state-dir", state]) == 2
    assert "no key with id 7" in capsys.readouterr().err
    storage.close()


def test_serve_refuses_bad_arguments_before_loading_a_model(tmp_path, capsys):  # noqa: ANN001
    assert main(["serve", "--checkpoint", "=x", "--state-dir", str(tmp_path)]) == 2
    assert "is not NAME=DIR" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", "a=x", "--checkpoint", "a=y", "--state-dir", str(tmp_path)]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(["serve"]) == 2
    assert "--state-dir DIR is required" in capsys.readouterr().err
    assert main(["serve", "--state-dir", str(tmp_path), "--queue-size", "0"]) == 2
    assert "queue_size" in capsys.readouterr().err
    assert main(["serve", "keys", "add", "--state-dir", str(tmp_path), "--tenant", " ", "--budget", "1"]) == 2
    assert "tenant must be" in capsys.readouterr().err
