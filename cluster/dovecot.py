"""A throwaway Dovecot IMAP server (for ``robofleet demo``, the mail tests and benchmark):
static passdb, maildir, no TLS, a free port; and mail delivered to it by IMAP APPEND.

Everything it writes (config, base_dir, state, mail, log) sits under one temp dir; it never
reads /etc/dovecot, so a system instance is left alone. Run as root it serves mail as the
``dovecot`` user (mail as uid 0 is refused); as another user it serves as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aioimaplib

PASSWORD = "imap-test-pass"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = robofleet-dovecot-{port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
{users}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dovecot_binary() -> str | None:
    """The dovecot binary, or None when it is not installed."""
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )


class Dovecot:
    """One Dovecot under ``root`` on ``port``; :meth:`start`, :meth:`stop`, :meth:`restart`."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.password = PASSWORD
        if os.geteuid() == 0:
            user = pwd.getpwnam("dovecot")
            self.uid, self.gid = user.pw_uid, user.pw_gid
            users = ""
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            name = pwd.getpwuid(self.uid).pw_name
            users = f"default_login_user = {name}\ndefault_internal_user = {name}"
        # the mail user must be able to walk down to its maildir
        root.chmod(0o711)
        for sub in ("run", "state", "mail", "home"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(root / sub, self.uid, self.gid)
        self.config = root / "dovecot.conf"
        self.config.write_text(
            _CONFIG.format(
                root=root, port=self.port, password=PASSWORD, uid=self.uid, gid=self.gid,
                users=users,
            )  # fmt: skip
        )

    def start(self, timeout_s: float = 15.0) -> None:
        """Start in the foreground (``-F``) and wait until the port answers IMAP."""
        binary = dovecot_binary()
        assert binary, "dovecot is not installed"
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        log_file = self.root / "dovecot.log"
        log = log_file.read_text() if log_file.exists() else ""
        self.stop()
        raise RuntimeError(f"dovecot did not start on {self.port}:\n{log[-2000:]}")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait for its port to close."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        # its children (imap, imap-login) leave with the master
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                time.sleep(0.1)
            except OSError:
                return

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to the master and its children): it stops answering."""
        self._signal("STOP")

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        self._signal("CONT")

    def _signal(self, name: str) -> None:
        assert self.process is not None
        subprocess.run(["pkill", f"-{name}", "-P", str(self.process.pid)], check=False)
        subprocess.run(["kill", f"-{name}", str(self.process.pid)], check=False)

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail."""
        self.stop()
        self.start()


async def append_all(
    port: int, user: str, password: str, messages: list[bytes], timeout_s: float = 120.0
) -> None:
    """Deliver messages to ``user``'s INBOX by IMAP APPEND, in order; each call is bounded
    by ``timeout_s`` (a connection the server drops mid-APPEND fails no sooner)."""
    client = aioimaplib.IMAP4("127.0.0.1", port, timeout=timeout_s)
    await client.wait_hello_from_server()
    await client.login(user, password)
    try:
        for message in messages:
            response = await client.append(message, mailbox="INBOX")
            assert response.result == "OK", response
    finally:
        await client.logout()


async def inbox_uids(port: int, user: str, password: str) -> list[int]:
    """Every UID in ``user``'s INBOX."""
    client = aioimaplib.IMAP4("127.0.0.1", port, timeout=30)
    await client.wait_hello_from_server()
    await client.login(user, password)
    try:
        await client.select("INBOX")
        response = await client.uid_search("ALL", charset=None)
        return sorted(int(w) for w in bytes(response.lines[0]).split() if w.isdigit())
    finally:
        await client.logout()
