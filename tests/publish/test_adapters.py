"""The adapter registry, URL parsing, secret lookup and masking (no secret is ever printed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from onthedot.adapters import (
    AdapterURL,
    builtin_module,
    create,
    lookup,
    schemes,
    secret_env_name,
)
from onthedot.errors import AdapterURLError
from onthedot.publish.targets.base import Target

SECRET = "pa55-word-XYZ"
URLS = [
    ("target", f"ftp://publisher:{SECRET}@origin.internal:21/www"),
    ("target", f"sftp://publisher:{SECRET}@origin.internal/var/www"),
    ("target", f"s3://AKIAEXAMPLE:{SECRET}@bucket/www?endpoint=http://127.0.0.1:9"),
    ("target", f"webhook+https://cms.example.org/hook?secret={SECRET}"),
    ("purger", f"fastly://SERVICEID?key={SECRET}"),
    ("purger", f"cloudflare://ZONE?token={SECRET}"),
    ("purger", f"cloudfront://AKIAEXAMPLE:{SECRET}@E123"),
    ("purger", f"akamai://akab-x.purge.akamaiapis.net?client_secret={SECRET}&access_token={SECRET}"
               f"&client_token={SECRET}"),
]


@pytest.mark.parametrize(("kind", "url"), URLS)
def test_no_secret_in_str_repr_or_url(kind: str, url: str) -> None:
    adapter = create(kind, url)
    shown = [str(adapter), repr(adapter), adapter.url(), adapter.url(privacy=True),
             str(adapter.parsed), repr(adapter.parsed)]
    assert all(SECRET not in text and "****" in text for text in shown)
    assert adapter.url(privacy=False) == url


def test_secret_from_env_name_env_var_and_secrets_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = AdapterURL.parse("ftp://publisher@origin.internal/")
    assert url.secret("password") is None
    name = secret_env_name(url, "password")
    assert name == "ONTHEDOT_SECRET_PUBLISHER_ORIGIN_INTERNAL_PASSWORD"
    monkeypatch.setenv(name, "from-env")
    assert url.secret("password") == "from-env"
    monkeypatch.setenv("MY_FTP_PASSWORD", "from-named-env")
    assert AdapterURL.parse("ftp://p@h/?password_env=MY_FTP_PASSWORD").secret("password") == (
        "from-named-env")
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text('"p@files.example" = "from-file"\n[other]\ntoken = "tok"\n')
    monkeypatch.setenv("ONTHEDOT_SECRETS_FILE", str(secrets_file))
    assert AdapterURL.parse("ftp://p@files.example/").secret("password", first=True) == "from-file"
    assert AdapterURL.parse("cloudflare://other").secret("token") == "tok"


def test_missing_named_env_and_missing_secret_say_how_to_fix() -> None:
    with pytest.raises(AdapterURLError, match="NO_SUCH_VAR_123"):
        AdapterURL.parse("ftp://p@h/?password_env=NO_SUCH_VAR_123").secret("password")
    adapter = create("purger", "cloudflare://ZONE")
    with pytest.raises(AdapterURLError, match="ONTHEDOT_SECRET_ZONE_TOKEN"):
        adapter.secret("token")


def test_unknown_scheme_suggests_the_nearest() -> None:
    with pytest.raises(AdapterURLError, match="did you mean sftp://"):
        create("target", "sfpt://host/x")
    with pytest.raises(AdapterURLError, match="did you mean varnish://"):
        create("purger", "varnsh://127.0.0.1:6081")
    with pytest.raises(AdapterURLError, match="scheme://"):
        create("target", "just-a-path")


def test_every_builtin_scheme_is_listed() -> None:
    assert {"file", "ftp", "ftps", "sftp", "s3", "webhook+https", "memory"} <= set(schemes("target"))
    assert {"varnish", "http-purge", "fastly", "cloudflare", "cloudfront", "akamai"} <= set(
        schemes("purger"))


@pytest.mark.parametrize("kind", ["target", "purger"])
def test_every_builtin_scheme_is_in_the_module_its_name_gives(kind: str) -> None:
    builtin = {s: lookup(kind, s) for s in schemes(kind)}
    builtin = {s: cls for s, cls in builtin.items() if cls.__module__.startswith("onthedot.")}
    assert len(builtin) >= 7
    for scheme, cls in builtin.items():
        assert builtin_module(kind, scheme) == cls.__module__, scheme


def test_a_scheme_is_found_before_anything_imported_it() -> None:
    """What ``onthedot publish`` does first: build the adapter for a URL, nothing imported yet."""
    found = subprocess.run(
        [sys.executable, "-c", "from onthedot.adapters import create\n"
         "print(type(create('purger', 'http-purge+https://www.example.org')).__name__)"],
        capture_output=True, text=True, timeout=60,
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "HTTPSPurgePurger"


class _PigeonTarget(Target):
    """pigeon://LOFT"""

    scheme: ClassVar[str] = "pigeon"


def test_an_adapter_class_is_its_registration() -> None:
    carrier = create("target", "pigeon://loft")
    assert type(carrier) is _PigeonTarget and carrier.url() == "pigeon://loft"
    assert "pigeon" in schemes("target") and "pigeon" not in schemes("purger")
