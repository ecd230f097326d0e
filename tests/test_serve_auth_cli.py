"""`medcode serve` asks for API keys: refused without them, --no-auth on loopback only."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")

from medcode.engine.interfaces.cli import main


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            [],
            {},
            "no API keys: set MEDCODE_API_KEYS or MEDCODE_API_KEYS_FILE "
            "(or --no-auth, on a loopback address only)",
        ),
        (
            ["--no-auth", "--host", "0.0.0.0"],
            {},
            "--no-auth is for a loopback address only, not 0.0.0.0: give API keys "
            "(MEDCODE_API_KEYS or --api-keys-file)",
        ),
        (
            ["--no-auth"],
            {"MEDCODE_API_KEYS": "k-0123456789abcdef"},
            "API keys given and authentication turned off: choose one",
        ),
        (
            ["--api-keys-file", "/nonexistent/keys"],
            {},
            "MEDCODE_API_KEYS_FILE: cannot read /nonexistent/keys: No such file or directory",
        ),
    ],
    ids=["no-keys", "no-auth-off-loopback", "both", "no-file"],
)
def test_serve_refuses_to_start_open_or_with_unusable_keys(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    environ: dict[str, str],
    message: str,
) -> None:
    # set through monkeypatch, so that what `serve` writes into os.environ is undone after
    for name in ("MEDCODE_API_KEYS", "MEDCODE_API_KEYS_FILE", "MEDCODE_NO_AUTH"):
        monkeypatch.setenv(name, "")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", *argv]) == 2
    assert capsys.readouterr().err == f"medcode serve: {message}\n"
