"""Organizations, API keys, provider-key encryption (SPEC §2 auth, §8) and the organizations'
limits: ``limits`` (what they are), ``rate_limiter`` (the token bucket), ``race_slots`` (the
concurrent flex races), ``limiters`` (in memory, or shared through Redis)."""

from flexgrpc.accounts.api_keys import (
    check_api_key_format,
    display_prefix,
    generate_api_key,
    hash_api_key,
)
from flexgrpc.accounts.crypto import (
    ProviderKeyCipher,
    ProviderKeyDecryptionError,
    generate_encryption_key,
)
from flexgrpc.accounts.store import (
    AccountStore,
    ApiKeyInfo,
    OrganizationInfo,
    Principal,
    ProviderKeyInfo,
)

__all__ = [
    "AccountStore",
    "ApiKeyInfo",
    "OrganizationInfo",
    "Principal",
    "ProviderKeyCipher",
    "ProviderKeyDecryptionError",
    "ProviderKeyInfo",
    "check_api_key_format",
    "display_prefix",
    "generate_api_key",
    "generate_encryption_key",
    "hash_api_key",
]
