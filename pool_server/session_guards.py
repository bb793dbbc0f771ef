"""What keeps one FTP session's data connections its own (issue 15, findings 3 and 11).

- Passive ports are counted per organization (`pool_server.passive`).
- In a session that requires TLS, `PROT C` is refused whenever it comes: pyftpdlib checks
  PROT only at PASV/PORT, so `PROT P`, `PASV`, `PROT C` gave a clear data connection.
- With `ftp_tls_reuse_required`, a TLS data connection must resume a session negotiated
  by a logged-in control connection of the same account (`tls.ControlSessions`), as
  vsftpd's `require_ssl_reuse`; the data channel refuses any other
  (`PoolDTPHandler.handle_ssl_established`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pyftpdlib.handlers import TLS_FTPHandler

from pool_server.passive import NoPassivePort, PoolPassiveDTP, PortLedger
from pool_server.tls import ControlSessions, control_session_fingerprints

PROT_C_REFUSED = "534 PROT C refused: this server requires TLS on data connections (PROT P)."


class SessionGuards(TLS_FTPHandler):  # type: ignore[misc]
    """Passive port limits, no downgrade to clear data, a TLS context per session."""

    passive_dtp = PoolPassiveDTP
    # Set per server by `build_server`.
    passive_ledger: ClassVar[PortLedger]
    tls_reuse_required: ClassVar[bool] = False
    control_sessions: ClassVar[ControlSessions]
    principal: Any

    @property
    def tls_account(self) -> object:
        """Whose TLS sessions a data connection of this session may resume."""
        principal = self.principal
        return None if principal is None else (principal.org_id, principal.user_id)

    def data_session_allowed(self, fingerprint: bytes | None) -> bool:
        """Whether a resumed data connection's session is this account's."""
        if fingerprint is None:
            return False
        if self._ssl_established and fingerprint in control_session_fingerprints(self.socket):
            return True  # a session of this very control connection
        account = self.tls_account
        # Blocks this session's thread (only) while a sibling connection logs in.
        return account is not None and self.control_sessions.belongs_to(
            account, fingerprint, wait=self.control_sessions.PENDING_LOGIN_WAIT_SECONDS
        )

    def _remember_tls_session(self) -> None:
        # Called from this session's own thread: its SSL object is never read elsewhere.
        # Before login the sessions are recorded without an account (see ControlSessions).
        if self._ssl_established:
            fingerprints = control_session_fingerprints(self.socket)
            self.control_sessions.record(self, self.tls_account, fingerprints)

    def handle_ssl_established(self) -> None:
        """The control connection's handshake is done: its client may cache its session now."""
        super().handle_ssl_established()
        self._remember_tls_session()

    def ftp_USER(self, line: str) -> None:
        """Logging in: TLS 1.3 tickets, written after the handshake, are recorded by now."""
        super().ftp_USER(line)
        self._remember_tls_session()

    def handle_auth_success(self, home: Any, password: str, msg_login: str) -> None:
        """Logged in: data connections of this account may resume this session."""
        super().handle_auth_success(home, password, msg_login)
        self._remember_tls_session()

    def flush_account(self) -> None:
        """Logged out (USER again, REIN): the session is no longer the account's."""
        self.control_sessions.forget(self)
        super().flush_account()

    def close(self) -> None:
        """The control connection ended."""
        self.control_sessions.forget(self)
        super().close()

    def ftp_PROT(self, line: str) -> None:
        """Refuse `PROT C` in a session that must keep its data connections encrypted."""
        if self.tls_data_required and line.strip().upper() == "C":
            self.respond(PROT_C_REFUSED)
            return
        super().ftp_PROT(line)

    def _make_epasv(self, extmode: bool = False) -> None:
        """Open a passive port if the organization has one to spare and the range too."""
        owner = self.principal.org_id if self.principal is not None else self.remote_ip
        # The session's previous port (if any) is given back before counting the new one.
        self._shutdown_connecting_dtp()
        # Its current session (TLS 1.3 tickets come after login) is what clients resume.
        self._remember_tls_session()
        ledger = self.passive_ledger
        if not ledger.take(owner):
            self.respond(
                "425 Too many passive ports open for your organization; connect the ones "
                "you have or try again later."
            )
            return
        try:
            super()._make_epasv(extmode)
        except NoPassivePort:
            ledger.give_back(owner)
            self.respond("425 No passive port free; try again later.")
            return
        acceptor = self._dtp_acceptor
        if isinstance(acceptor, PoolPassiveDTP) and not acceptor._closed:
            acceptor.counted_for(ledger, owner)
        else:
            ledger.give_back(owner)
