"""Organizations, API keys and provider keys in the database (SPEC §2 auth, §8).

The methods are synchronous and short; the asynchronous server calls them through a thread.
They return immutable ``*Info`` objects that never carry a key hash, a ciphertext or a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.api_keys import (
    check_api_key_format,
    display_prefix,
    generate_api_key,
    hash_api_key,
)
from flexgrpc.accounts.crypto import (
    EncryptedProviderKey,
    ProviderKeyCipher,
    ProviderKeyDecryptionError,
)
from flexgrpc.accounts.limits import (
    UNLIMITED,
    OnExceed,
    OrganizationLimits,
    check_limit,
)
from flexgrpc.db.engine import write_session
from flexgrpc.db.models import PROVIDER_NAMES, ApiKey, Organization, ProviderKey
from flexgrpc.errors import FlexError

_log = logging.getLogger(__name__)

_DISPLAY_NAME_MAX: Final = 200
_PROVIDER_SECRET_MAX: Final = 512


@dataclass(frozen=True, slots=True)
class OrganizationInfo:
    id: str
    display_name: str
    create_time: dt.datetime
    limits: OrganizationLimits = UNLIMITED


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as listings show it: its id and display prefix, never the key or its hash."""

    id: str
    organization_id: str
    display_prefix: str
    create_time: dt.datetime
    revoke_time: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoke_time is not None


@dataclass(frozen=True, slots=True)
class ProviderKeyInfo:
    """That an organization has a key for a provider, and since when; never the key."""

    organization_id: str
    provider: str
    update_time: dt.datetime
    #: ``sha256:`` + 8 hex digits of the key's SHA-256, to tell keys apart; "" when unreadable.
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an authenticated request acts for: an API key, or a signed-in dashboard session
    (then ``api_key_id`` is empty and ``session_id`` names the session)."""

    organization_id: str
    api_key_id: str
    session_id: str | None = None
    #: The organization's limits when the key was authenticated (cached with the key).
    limits: OrganizationLimits = UNLIMITED


def provider_key_fingerprint(secret: str) -> str:
    """What listings show of a provider key: 32 bits of its SHA-256, nothing of the key."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id(kind: str) -> str:
    # 64 random bits: ids are public, but unguessable ids make enumeration pointless.
    return f"{kind}_{secrets.token_hex(8)}"


def _limits(row: Any) -> OrganizationLimits:
    """The limits of an organization row (or a row of its limit columns)."""
    try:
        on_exceed = OnExceed(row.flex_race_slots_on_exceed)
    except ValueError:  # not written by this code: the safe choice
        on_exceed = OnExceed.REFUSE
    return OrganizationLimits(
        requests_per_minute=row.requests_per_minute,
        request_burst=row.request_burst,
        flex_race_slots=row.flex_race_slots,
        on_exceed=on_exceed,
    )


def _org_info(row: Organization) -> OrganizationInfo:
    return OrganizationInfo(
        id=row.id, display_name=row.display_name, create_time=row.create_time, limits=_limits(row)
    )


def _key_info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        organization_id=row.organization_id,
        display_prefix=row.display_prefix,
        create_time=row.create_time,
        revoke_time=row.revoke_time,
    )


def _check_provider(provider: str) -> None:
    if provider not in PROVIDER_NAMES:
        raise FlexError(
            "invalid_argument",
            f"unknown provider {provider!r}: provider keys exist for "
            f"{', '.join(PROVIDER_NAMES)}; for example provider='openai'",
            field="provider",
        )


def _check_provider_secret(secret: str) -> None:
    """A loose shape check; the messages never repeat the secret."""
    if not secret:
        raise FlexError(
            "invalid_argument", "the provider key is empty: paste the whole key", field="secret"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise FlexError(
            "invalid_argument",
            "the provider key contains whitespace or control characters (a stray newline or "
            "space?): paste the key alone",
            field="secret",
        )
    if len(secret) > _PROVIDER_SECRET_MAX:
        raise FlexError(
            "invalid_argument",
            f"the provider key is {len(secret)} characters; keys are at most "
            f"{_PROVIDER_SECRET_MAX}: check that only the key was pasted",
            field="secret",
        )


def _check_display_name(display_name: str) -> str:
    name = display_name.strip()
    if not name or len(name) > _DISPLAY_NAME_MAX or not name.isprintable():
        raise FlexError(
            "invalid_argument",
            f"display_name must be 1 to {_DISPLAY_NAME_MAX} printable characters, e.g. 'Acme Corp'",
            field="display_name",
        )
    return name


def _require_organization(session: Session, organization_id: str) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise FlexError(
            "not_found",
            f"organization {organization_id!r} does not exist: list organizations to find its id",
            field="organization_id",
        )
    return organization


class AccountStore:
    """Organizations, API keys and encrypted provider keys.

    Without a ``cipher`` everything works except storing provider keys (and reading stored ones,
    which then count as missing).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cipher: ProviderKeyCipher | None = None,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._clock = clock

    # Organizations -----------------------------------------------------------------------

    def create_organization(self, display_name: str) -> OrganizationInfo:
        name = _check_display_name(display_name)
        row = Organization(id=_new_id("org"), display_name=name, create_time=self._clock())
        with write_session(self._sessions) as session:
            session.add(row)
        return _org_info(row)

    def rename_organization(self, organization_id: str, display_name: str) -> OrganizationInfo:
        name = _check_display_name(display_name)
        with write_session(self._sessions) as session:
            row = _require_organization(session, organization_id)
            row.display_name = name
            return _org_info(row)

    def set_limits(self, organization_id: str, limits: OrganizationLimits) -> OrganizationInfo:
        """Replace the organization's limits (who may change which is the caller's rule)."""
        for name in ("requests_per_minute", "request_burst", "flex_race_slots"):
            check_limit(name, getattr(limits, name))
        with write_session(self._sessions) as session:
            row = _require_organization(session, organization_id)
            row.requests_per_minute = limits.requests_per_minute
            row.request_burst = limits.request_burst
            row.flex_race_slots = limits.flex_race_slots
            row.flex_race_slots_on_exceed = limits.on_exceed.value
            return _org_info(row)

    def get_organization(self, organization_id: str) -> OrganizationInfo | None:
        with self._sessions() as session:
            row = session.get(Organization, organization_id)
            return None if row is None else _org_info(row)

    def list_organizations(self) -> list[OrganizationInfo]:
        """Every organization, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Organization).order_by(Organization.create_time, Organization.id)
            )
            return [_org_info(row) for row in rows]

    # API keys ----------------------------------------------------------------------------

    def create_api_key(self, organization_id: str) -> tuple[ApiKeyInfo, str]:
        """A new key for the organization: its info and the plaintext, which is never stored."""
        token = generate_api_key()
        row = ApiKey(
            id=_new_id("key"),
            organization_id=organization_id,
            hash=hash_api_key(token),
            display_prefix=display_prefix(token),
            create_time=self._clock(),
            revoke_time=None,
        )
        with write_session(self._sessions) as session:
            _require_organization(session, organization_id)
            session.add(row)
        return _key_info(row), token

    def list_api_keys(self, organization_id: str) -> list[ApiKeyInfo]:
        """The organization's keys, revoked ones included, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ApiKey)
                .where(ApiKey.organization_id == organization_id)
                .order_by(ApiKey.create_time, ApiKey.id)
            )
            return [_key_info(row) for row in rows]

    def revoke_api_key(self, key_id: str, *, organization_id: str | None = None) -> ApiKeyInfo:
        """Revoke a key; revoking it again changes nothing (the first revoke time stays).

        With ``organization_id``, a key of another organization is reported as not found, so a
        caller cannot learn which key ids exist elsewhere.
        """
        with write_session(self._sessions) as session:
            owned = ApiKey.id == key_id
            if organization_id is not None:
                owned &= ApiKey.organization_id == organization_id
            # Conditional UPDATE: concurrent revokes agree on one revoke_time.
            session.execute(
                update(ApiKey)
                .where(owned, ApiKey.revoke_time.is_(None))
                .values(revoke_time=self._clock())
            )
            row = session.get(ApiKey, key_id, populate_existing=True)
            if row is None or (
                organization_id is not None and row.organization_id != organization_id
            ):
                raise FlexError(
                    "not_found",
                    f"API key {key_id!r} does not exist: list the organization's keys for ids",
                    field="key_id",
                )
            return _key_info(row)

    def authenticate(self, token: str) -> Principal | None:
        """Who ``token`` belongs to; ``None`` for a malformed, unknown or revoked key.

        A token with a bad shape or checksum is rejected without touching the database.
        """
        if not check_api_key_format(token):
            return None
        with self._sessions() as session:
            found = session.execute(
                select(
                    ApiKey.id,
                    ApiKey.organization_id,
                    ApiKey.revoke_time,
                    Organization.requests_per_minute,
                    Organization.request_burst,
                    Organization.flex_race_slots,
                    Organization.flex_race_slots_on_exceed,
                )
                .join(Organization, Organization.id == ApiKey.organization_id)
                .where(ApiKey.hash == hash_api_key(token))
            ).one_or_none()
        if found is None or found.revoke_time is not None:
            return None
        return Principal(
            organization_id=found.organization_id, api_key_id=found.id, limits=_limits(found)
        )

    # Provider keys -----------------------------------------------------------------------

    def set_provider_key(self, organization_id: str, provider: str, secret: str) -> ProviderKeyInfo:
        """Store (or replace) the organization's key for ``provider``, encrypted."""
        _check_provider(provider)
        _check_provider_secret(secret)
        if self._cipher is None:
            raise FlexError(
                "invalid_argument",
                "FLEXGRPC_ENCRYPTION_KEY is not set, so provider keys cannot be stored: set it to "
                "a urlsafe-base64 32-byte key and restart the server",
            )
        encrypted = self._cipher.encrypt(secret, organization_id=organization_id, provider=provider)
        now = self._clock()
        values = {
            "organization_id": organization_id,
            "provider": provider,
            "ciphertext": encrypted.ciphertext,
            "nonce": encrypted.nonce,
            "update_time": now,
        }
        with write_session(self._sessions) as session:
            _require_organization(session, organization_id)
            # An upsert, so two concurrent writers cannot collide on the primary key.
            upsert = (
                postgresql.insert(ProviderKey)
                if session.get_bind().dialect.name == "postgresql"
                else sqlite.insert(ProviderKey)
            )
            session.execute(
                upsert.values(values).on_conflict_do_update(
                    index_elements=[ProviderKey.organization_id, ProviderKey.provider],
                    set_={
                        "ciphertext": encrypted.ciphertext,
                        "nonce": encrypted.nonce,
                        "update_time": now,
                    },
                )
            )
        return ProviderKeyInfo(
            organization_id=organization_id,
            provider=provider,
            update_time=now,
            fingerprint=provider_key_fingerprint(secret),
        )

    def get_provider_key(self, organization_id: str, provider: str) -> str | None:
        """The organization's plaintext key for ``provider``, or ``None``.

        A stored key that cannot be decrypted counts as missing (fail closed) and logs a warning
        naming the organization and provider, never the key.
        """
        _check_provider(provider)
        with self._sessions() as session:
            row = session.get(ProviderKey, (organization_id, provider))
            if row is None:
                return None
            encrypted = EncryptedProviderKey(ciphertext=row.ciphertext, nonce=row.nonce)
        context = {"organization_id": organization_id, "provider": provider}
        if self._cipher is None:
            _log.warning(
                "provider key for organization %s, provider %s is stored but "
                "FLEXGRPC_ENCRYPTION_KEY is not set; treating it as missing",
                organization_id,
                provider,
                extra=context,
            )
            return None
        try:
            return self._cipher.decrypt(
                encrypted, organization_id=organization_id, provider=provider
            )
        except ProviderKeyDecryptionError as error:
            _log.warning(
                "provider key for organization %s, provider %s does not decrypt (%s): wrong "
                "FLEXGRPC_ENCRYPTION_KEY? treating it as missing; store the key again to fix",
                organization_id,
                provider,
                error,
                extra=context,
            )
            return None

    def list_provider_keys(self, organization_id: str) -> list[str]:
        """The providers the organization has stored keys for, sorted (names only, no secrets)."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(ProviderKey.provider)
                    .where(ProviderKey.organization_id == organization_id)
                    .order_by(ProviderKey.provider)
                )
            )

    def describe_provider_keys(self, organization_id: str) -> list[ProviderKeyInfo]:
        """The organization's provider keys by provider name: when set and a fingerprint."""
        with self._sessions() as session:
            rows = session.execute(
                select(ProviderKey.provider, ProviderKey.update_time)
                .where(ProviderKey.organization_id == organization_id)
                .order_by(ProviderKey.provider)
            ).all()
        described = []
        for provider, update_time in rows:
            secret = self.get_provider_key(organization_id, provider)
            described.append(
                ProviderKeyInfo(
                    organization_id=organization_id,
                    provider=provider,
                    update_time=update_time,
                    fingerprint=provider_key_fingerprint(secret) if secret is not None else "",
                )
            )
        return described

    def delete_provider_key(self, organization_id: str, provider: str) -> bool:
        """Forget the organization's key for ``provider``; ``False`` if there was none."""
        _check_provider(provider)
        with write_session(self._sessions) as session:
            # A DELETE's result is a CursorResult; Session.execute is typed more loosely.
            result = cast(
                CursorResult[Any],
                session.execute(
                    delete(ProviderKey).where(
                        ProviderKey.organization_id == organization_id,
                        ProviderKey.provider == provider,
                    )
                ),
            )
            return bool(result.rowcount)
