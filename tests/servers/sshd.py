"""OpenSSH sshd offering SFTP only (``internal-sftp``) for one existing local account.

sshd needs a real account, so ``user`` defaults to the account running the tests (root in
CI). Key auth always works: a fresh ed25519 client key pair is made per server
(``client_key`` is the private key path, ``known_hosts`` pins the server's own host key).
With ``password=...`` password auth works too, checked by a per-instance PAM service
(:mod:`tests.servers.pam`; sshd names its PAM service after the binary, so it is started
through a symlink named like its temp dir) — no system password is touched.

No chroot (sshd refuses one under world-writable ``/tmp``): the session starts in ``root``
and ``url`` carries root's absolute path, ``sftp://root@127.0.0.1:PORT/tmp/.../root/``, which
is how an sftp URL names a directory on the server.
"""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

from tests.servers import pam
from tests.servers.base import ServerProcess, banner_ready

PRIVSEP_DIR = Path("/run/sshd")

_CONF = """\
Port {port}
ListenAddress {host}
AddressFamily inet
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
UsePAM {use_pam}
PubkeyAuthentication yes
PasswordAuthentication {password_auth}
KbdInteractiveAuthentication no
PermitRootLogin yes
AllowUsers {user}
PermitEmptyPasswords no
MaxStartups 100:30:200
LoginGraceTime 20
UseDNS no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d {root}
"""


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "onthedot-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class Sshd(ServerProcess):
    """sshd -D on 127.0.0.1:port serving ``root`` over SFTP to ``user``."""

    name = "sshd"
    binary = "/usr/sbin/sshd"
    apt_package = "openssh-server"

    def __init__(self, root: Path, user: str | None = None, password: str | None = None) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self.user = user or getpass.getuser()
        self.password = password
        self._pam_service = ""

    @property
    def url(self) -> str:
        """``sftp://user@127.0.0.1:PORT/abs/path/of/root/`` (no secret in it)."""
        return f"sftp://{self.user}@{self.host}:{self.port}{self.root}/"

    @property
    def client_key(self) -> Path:
        """Private key (OpenSSH format, no passphrase) that the server accepts."""
        return self.dir / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        """known_hosts file naming this server's host key for [127.0.0.1]:PORT."""
        return self.dir / "known_hosts"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.client_key)
        (self.dir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        host_pub = Path(f"{self.host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {' '.join(host_pub)}\n")
        use_pam = self.password is not None
        if use_pam:
            assert self.password is not None
            self._pam_service = pam.install_service(self.dir, self.user, self.password)
            (self.dir / self._pam_service).symlink_to(self.binary)
        conf = _CONF.format(
            port=self.port,
            host=self.host,
            dir=self.dir,
            user=self.user,
            root=self.root,
            use_pam="yes" if use_pam else "no",
            password_auth="yes" if use_pam else "no",
        )
        (self.dir / "sshd_config").write_text(conf)

    def _command(self) -> list[str]:
        # sshd re-executes itself and needs an absolute argv[0]; its PAM service is basename.
        exe = str(self.dir / self._pam_service) if self._pam_service else self.binary
        return [exe, "-D", "-e", "-f", str(self.dir / "sshd_config")]

    def _ready(self) -> bool:
        return banner_ready(self.port, b"SSH-")

    def _cleanup(self) -> None:
        if self._pam_service:
            pam.remove_service(self._pam_service)
            self._pam_service = ""
