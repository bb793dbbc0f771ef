"""Accounts: organizations, users, FTP passwords and API tokens on each database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.errors import AlreadyExists, AuthenticationFailed, InvalidInput
from pool_core.models import ApiToken, FtpAccount, Role
from pool_core.services import accounts
from tests.fixtures.database import statements_run


def test_user_gets_working_ftp_password_and_token_stored_hashed(database: Database) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="aztv", name="AzTV", country="az")
        new = accounts.create_user(session, org=org, username="Operator1", role="uploader")
    with database.session() as session:
        user = accounts.verify_ftp_login(session, username="operator1", password=new.ftp_password)
        assert user.role is Role.UPLOADER and user.org_id == org.id
        assert accounts.check_api_token(session, token=new.api_token).user.id == user.id
        stored = session.query(FtpAccount).one().password_hash
        assert new.ftp_password not in stored and stored.startswith("scrypt$")
        assert session.query(ApiToken).one().token_hash != new.api_token


def test_wrong_password_and_unknown_user_fail_alike(database: Database) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="qaz", name="Qazaqstan", country="KZ")
        accounts.create_user(session, org=org, username="kz-ops", role="uploader")
    with database.session() as session:
        errors = []
        for username in ("kz-ops", "nobody"):
            with pytest.raises(AuthenticationFailed) as info:
                accounts.verify_ftp_login(session, username=username, password="wrong-password!")
            errors.append(str(info.value))
        assert errors[0] == errors[1]


def test_disabled_user_and_expired_or_revoked_token_refused(database: Database) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="mtva", name="MTVA", country="HU")
        new = accounts.create_user(session, org=org, username="hu-editor", role="editor")
        _, short = accounts.create_api_token(session, user=new.user, ttl=timedelta(seconds=-1))
        record, revoked = accounts.create_api_token(session, user=new.user)
        accounts.revoke_api_token(session, token_id=record.id, actor=Actor.for_user(new.user))
    with database.session() as session:
        with pytest.raises(AuthenticationFailed, match="expired"):
            accounts.check_api_token(session, token=short)
        with pytest.raises(AuthenticationFailed, match="revoked"):
            accounts.check_api_token(session, token=revoked)
        user = accounts.get_user_by_username(session, username="hu-editor")
        user.disabled = True
    with database.session() as session, pytest.raises(AuthenticationFailed, match="disabled"):
        accounts.verify_ftp_login(session, username="hu-editor", password=new.ftp_password)


def test_bad_and_duplicate_input_rejected(database: Database) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="trt", name="TRT", country="TR")
        accounts.create_user(session, org=org, username="trt-ops", role="uploader")
    with database.write_session() as session:
        with pytest.raises(AlreadyExists):
            accounts.create_organization(session, code="TRT", name="TRT again", country="TR")
        with pytest.raises(InvalidInput):
            accounts.create_organization(session, code="../x", name="x", country="TR")
        with pytest.raises(InvalidInput):
            accounts.create_organization(session, code="ok-code", name="x", country="Turkey")
        org = accounts.get_organization_by_code(session, code="trt")
        with pytest.raises(InvalidInput, match="role"):
            accounts.create_user(session, org=org, username="someone", role="superuser")
        with pytest.raises(AlreadyExists):
            accounts.create_user(session, org=org, username="trt-ops", role="editor")


def test_a_token_check_reads_token_user_and_organization_in_one_statement(
    database: Database,
) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="ktrk", name="KTRK", country="KG")
        new = accounts.create_user(session, org=org, username="kg-editor", role="editor")
    with statements_run(database, "SELECT") as selects, database.session() as session:
        check = accounts.check_api_token(session, token=new.api_token)
        assert check.user.organization.code == "ktrk"  # every request names it
    assert len(selects) == 1
    # The organization read with the token still decides: a disabled one is refused.
    with database.write_session() as session:
        accounts.get_organization_by_code(session, code="ktrk").disabled = True
    with database.session() as session, pytest.raises(AuthenticationFailed, match="disabled"):
        accounts.check_api_token(session, token=new.api_token)
