"""vsftpd serving ``root`` to one virtual user, over plain FTP or explicit FTPS.

The user exists only for this server: vsftpd's ``guest_enable`` maps the login onto the local
``root`` account (so uploaded files belong to whoever runs onthedot) and a per-instance PAM
service (:mod:`onthedot.sandbox.pam`) checks the name and password. The session is chrooted to
``root``, so ``/statistics/x.xlsx`` on FTP is ``root/statistics/x.xlsx`` on disk. Writes,
deletes, MKD and RNFR/RNTO are allowed; passive ports are a free range on 127.0.0.1.

``anonymous=True`` serves ``root`` to anonymous logins instead (any password, as public FTP
servers do), through the ``ftp`` account that Debian's vsftpd package creates: vsftpd refuses a
chroot its anonymous user can write to, so ``root`` stays read-only and each folder in
``anonymous_folders`` (default ``statistics``) is made writable for it.

``tls=True`` turns on explicit TLS (AUTH TLS) with the harness's self-signed certificate and
*requires* it for login and data, ``require_ssl_reuse=NO`` so Python's ftplib/aioftp work.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from urllib.parse import quote

from onthedot.sandbox import pam
from onthedot.sandbox.base import ServerProcess, banner_ready
from onthedot.sandbox.tls import copy_cert

PASSIVE_PORTS = 8

_COMMON = """\
listen=YES
listen_ipv6=NO
listen_address={host}
listen_port={port}
background=NO
write_enable=YES
secure_chroot_dir={dir}/empty
session_support=NO
seccomp_sandbox=NO
pasv_enable=YES
pasv_address={host}
pasv_min_port={pasv_min}
pasv_max_port={pasv_max}
xferlog_enable=YES
dual_log_enable=YES
log_ftp_protocol=YES
xferlog_file={dir}/xfer.log
vsftpd_log_file={dir}/vsftpd.log
use_localtime=NO
delay_failed_login=0
delay_successful_login=0
"""

_LOCAL = """\
anonymous_enable=NO
local_enable=YES
local_umask=022
file_open_mode=0644
guest_enable=YES
guest_username=root
virtual_use_local_privs=YES
local_root={root}
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name={pam_service}
userlist_enable=NO
port_enable=YES
connect_from_port_20=NO
utf8_filesystem=YES
"""

_ANONYMOUS = """\
anonymous_enable=YES
local_enable=NO
no_anon_password=NO
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
anon_root={root}
ftp_username=ftp
"""

_TLS = """\
ssl_enable=YES
rsa_cert_file={cert}
rsa_private_key_file={key}
allow_anon_ssl=NO
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=NO
ssl_ciphers=HIGH
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
"""


class Vsftpd(ServerProcess):
    """vsftpd on 127.0.0.1:port for one user; ``url`` carries the credentials."""

    name = "vsftpd"
    binary = "/usr/sbin/vsftpd"
    apt_package = "vsftpd"

    def __init__(
        self,
        root: Path,
        user: str = "publisher",
        password: str = "s3cret",
        tls: bool = False,
        anonymous: bool = False,
        anonymous_folders: tuple[str, ...] = ("statistics",),
    ) -> None:
        super().__init__()
        self.root = Path(root).resolve()
        self.user = "anonymous" if anonymous else user
        self.password = password
        self.tls = tls
        self.anonymous = anonymous
        self.anonymous_folders = anonymous_folders
        self.passive_ports: list[int] = []
        self.cert_path = Path()
        self._pam_service = ""

    @property
    def url(self) -> str:
        """``ftp://user:pass@127.0.0.1:PORT/`` (``ftps://`` with ``tls=True``)."""
        scheme = "ftps" if self.tls else "ftp"
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"{scheme}://{auth}@{self.host}:{self.port}/"

    @property
    def anonymous_url(self) -> str:
        """``ftp://anonymous@127.0.0.1:PORT/``, as a public FTP server is written."""
        return f"ftp://anonymous@{self.host}:{self.port}/"

    @property
    def url_without_password(self) -> str:
        """``ftp://user@127.0.0.1:PORT/`` — for configs that take the secret from elsewhere."""
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{quote(self.user, safe='')}@{self.host}:{self.port}/"

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.dir / "empty").mkdir(mode=0o755)
        self.passive_ports = self._take_ports(PASSIVE_PORTS)
        if self.anonymous:
            self._prepare_anonymous()
            return
        self._pam_service = pam.install_service(self.dir, self.user, self.password)
        conf = self._common() + _LOCAL.format(root=self.root, pam_service=self._pam_service)
        if self.tls:
            pair = copy_cert(self.dir)
            self.cert_path = pair.cert
            conf += _TLS.format(cert=pair.cert, key=pair.key)
        (self.dir / "vsftpd.conf").write_text(conf)

    def _common(self) -> str:
        return _COMMON.format(
            host=self.host,
            port=self.port,
            dir=self.dir,
            pasv_min=self.passive_ports[0],
            pasv_max=self.passive_ports[-1],
        )

    def _prepare_anonymous(self) -> None:
        ftp_account = pwd.getpwnam("ftp")  # created by Debian's vsftpd package
        self.root.chmod(0o755)
        for name in self.anonymous_folders:
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, ftp_account.pw_uid, ftp_account.pw_gid)
        (self.dir / "vsftpd.conf").write_text(self._common() + _ANONYMOUS.format(root=self.root))

    def _command(self) -> list[str]:
        return [self.binary, str(self.dir / "vsftpd.conf")]

    def _ready(self) -> bool:
        return banner_ready(self.port, b"220")

    def _log_files(self) -> list[Path]:
        return [self.dir / "vsftpd.log"]

    def _cleanup(self) -> None:
        if self._pam_service:
            pam.remove_service(self._pam_service)
            self._pam_service = ""
