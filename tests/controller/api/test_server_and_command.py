"""Starting and stopping the server, and `sitecharge hash-token`."""

from __future__ import annotations

import argparse
import io
import socket
import tomllib

import httpx
import pytest

from controller.api import ApiStartError, start_api, stop_api
from controller.commands import hash_token
from controller.config import ApiToken
from controller.security import verify_secret
from tests.controller.api.harness import auth, serving


async def test_busy_port_is_an_error_and_the_controller_keeps_running(tmp_path):
    async with serving(tmp_path) as api:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ApiStartError, match=f"127.0.0.1:{port}"):
                await start_api(api.ctl, "127.0.0.1", port)
        assert (await api.client.get("/site", headers=auth("viewer"))).status_code == 200


async def test_stop_closes_the_port(tmp_path):
    async with serving(tmp_path) as api:
        server, task, port = await start_api(api.ctl, "127.0.0.1", 0)
        # A TCP-proto socket: asyncio then disables Nagle (else ~40 ms per response).
        assert server.servers[0].sockets[0].proto == socket.IPPROTO_TCP
        url = f"http://127.0.0.1:{port}/openapi.json"
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
            await stop_api(server, task)
            assert task.done()
            with pytest.raises(httpx.ConnectError):
                await client.get(url)


def _run(argv: list[str], stdin: str, monkeypatch, capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    hash_token.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["hash-token", *argv])
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "stdin", "token"),
    [
        (["--name", "olga", "--role", "operator"], "", None),
        (["--name", "ute", "--role", "utility", "--stdin"], "a-token-from-the-utility\n", None),
    ],
)
def test_hash_token_prints_a_config_entry_that_verifies(argv, stdin, token, monkeypatch, capsys):
    code, out, _ = _run(argv, stdin, monkeypatch, capsys)
    assert code == 0
    if "--stdin" in argv:
        token = stdin.strip()
        assert token not in out
    else:
        token = out.splitlines()[0].rsplit(" ", 1)[1]
        assert len(token) >= 40
    (entry,) = tomllib.loads(out)["api"]["tokens"]
    parsed = ApiToken(**entry)
    assert (parsed.name, parsed.role) == (argv[1], argv[3])
    assert verify_secret(token, parsed.token_hash)
    assert not verify_secret(token + "x", parsed.token_hash)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--name", "olga", "--role", "operator", "--stdin"], "short\n", "16 characters"),
        (["--name", "has space", "--role", "viewer"], "", "--name"),
    ],
)
def test_hash_token_refuses_bad_input(argv, stdin, message, monkeypatch, capsys):
    code, out, err = _run(argv, stdin, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert message in err
