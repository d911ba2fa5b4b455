"""GOV.UK Frontend assets for the dashboard, built from npm, never committed.

``python -m onthedot.web.assets build`` installs ``govuk-frontend@5`` and the ``sass`` compiler
into a build directory, compiles GOV.UK Frontend's Sass with the system font stack (GDS Transport
is licensed for GOV.UK domains only, so no ``@font-face`` and no font files are shipped), and
copies the CSS, the JavaScript and the images into ``static/vendor/govuk-frontend/`` with a
``VERSION`` file. ``python -m onthedot.web.assets status`` says what is there.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

from onthedot.errors import ConfigError

VENDOR = Path(__file__).parent / "static" / "vendor" / "govuk-frontend"
STATIC_URL = "/static"
ASSETS_URL = f"{STATIC_URL}/vendor/govuk-frontend/assets"
PACKAGES = ("govuk-frontend@5", "sass@1")
FONT_STACK = "system-ui, sans-serif"
ENTRY_SCSS = f"""\
$govuk-font-family: {FONT_STACK};
$govuk-include-default-font-face: false;
$govuk-assets-path: "{ASSETS_URL}/";
@import "govuk-frontend/dist/govuk/index";
"""
CSS_NAME = "govuk-frontend.min.css"
JS_NAME = "govuk-frontend.min.js"


def installed_version(vendor: Path = VENDOR) -> str | None:
    """The GOV.UK Frontend version built into ``vendor``, or None when it was never built."""
    try:
        return (vendor / "VERSION").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


async def _run(*command: str, cwd: Path) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"{command[0]} is not installed: install Node.js and npm (apt-get install npm), "
            "then run `python -m onthedot.web.assets build` again."
        ) from None
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(
            f"`{' '.join(command)}` failed ({tail[0]}): check the network access to the npm "
            "registry, then run `python -m onthedot.web.assets build` again."
        )


async def build(vendor: Path = VENDOR, build_dir: Path | None = None) -> str:
    """Install from npm, compile the Sass, copy into ``vendor``; returns the version built."""
    with tempfile.TemporaryDirectory(prefix="onthedot-assets-") as scratch:
        work = build_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        (work / "package.json").write_text('{"private": true}\n', encoding="utf-8")
        await _run(
            "npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES, cwd=work
        )
        package = work / "node_modules" / "govuk-frontend"
        version = str(json.loads((package / "package.json").read_text())["version"])
        (work / "onthedot.scss").write_text(ENTRY_SCSS, encoding="utf-8")
        await _run(
            str(work / "node_modules" / ".bin" / "sass"),
            "--no-source-map",
            "--style=compressed",
            "--load-path=node_modules",
            "--quiet-deps",
            "--silence-deprecation=import",
            "onthedot.scss",
            "onthedot.css",
            cwd=work,
        )
        _install(package / "dist" / "govuk", work / "onthedot.css", vendor, version)
    return version


def _install(dist: Path, css: Path, vendor: Path, version: str) -> None:
    """Replace ``vendor`` with the compiled CSS, the JS and the images (no fonts)."""
    if "GDS Transport" in css.read_text(encoding="utf-8"):
        raise ConfigError(
            "The compiled GOV.UK Frontend CSS still names GDS Transport: check ENTRY_SCSS in "
            "onthedot/web/assets.py against this govuk-frontend version."
        )
    staging = vendor.with_name(vendor.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "assets").mkdir(parents=True)
    shutil.copy2(css, staging / CSS_NAME)
    shutil.copy2(dist / JS_NAME, staging / JS_NAME)
    for item in ("images", "rebrand", "manifest.json"):
        source = dist / "assets" / item
        if source.is_dir():
            shutil.copytree(source, staging / "assets" / item)
        elif source.is_file():
            shutil.copy2(source, staging / "assets" / item)
    (staging / "VERSION").write_text(version + "\n", encoding="utf-8")
    shutil.rmtree(vendor, ignore_errors=True)
    staging.rename(vendor)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["build"]:
        try:
            version = asyncio.run(build())
        except ConfigError as exc:
            print(f"onthedot: {exc}", file=sys.stderr)
            return 2
        print(f"GOV.UK Frontend {version} built into {VENDOR} (system fonts, no GDS Transport).")
        return 0
    if args == ["status"]:
        built = installed_version()
        print(f"GOV.UK Frontend {built} in {VENDOR}" if built else f"Not built: {VENDOR}")
        return 0 if built else 1
    print("usage: python -m onthedot.web.assets build|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
