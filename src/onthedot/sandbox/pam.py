"""A throw-away PAM service that accepts exactly one user name and password.

vsftpd authenticates through PAM and looks services up by name in ``/etc/pam.d``, so each
server instance writes ``/etc/pam.d/onthedot-<its dir name>`` pointing ``pam_pwdfile`` at a
``user:crypt-hash`` file in its own temp dir, and removes the service file on stop.

Why pam_pwdfile (Debian ``libpam-pwdfile``): it checks in-process. ``pam_exec`` forks, and the
child's SIGCHLD makes vsftpd's privileged process wait for the wrong child and hang forever.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PAM_DIR = Path("/etc/pam.d")
PWDFILE_MODULE = Path("/lib/x86_64-linux-gnu/security/pam_pwdfile.so")

_SERVICE = """# written by onthedot (sandbox pam) for one local server; removed when it stops
auth required pam_pwdfile.so nodelay pwdfile={pwdfile}
account required pam_permit.so
session required pam_permit.so
"""


def available() -> bool:
    return PWDFILE_MODULE.exists()


def _crypt(password: str) -> str:
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def install_service(workdir: Path, user: str, password: str) -> str:
    """Create the PAM service for ``user``/``password`` and return its name."""
    if not available():
        raise RuntimeError("pam_pwdfile is not installed: apt-get install libpam-pwdfile")
    pwdfile = workdir / "ftp.passwd"
    pwdfile.write_text(f"{user}:{_crypt(password)}\n")
    pwdfile.chmod(0o600)
    name = workdir.name if workdir.name.startswith("onthedot-") else f"onthedot-{workdir.name}"
    (PAM_DIR / name).write_text(_SERVICE.format(pwdfile=pwdfile))
    return name


def remove_service(name: str) -> None:
    """Delete a service made by :func:`install_service` (idempotent)."""
    if name.startswith("onthedot-"):
        (PAM_DIR / name).unlink(missing_ok=True)
