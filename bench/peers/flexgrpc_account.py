"""Prepare flexgrpc for the peer benchmark: a database, an organization, an OpenAI key, and
a flexgrpc API key (printed). Usage: flexgrpc_account.py DATABASE_URL SECRET_FILE"""

from __future__ import annotations

import pathlib
import sys

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade

url, secret_file = sys.argv[1], pathlib.Path(sys.argv[2])
secret = generate_encryption_key()
secret_file.write_text(secret)
upgrade(url)
store = AccountStore(make_sessionmaker(make_engine(url)), ProviderKeyCipher.from_setting(secret))
org = store.create_organization("peer bench")
store.set_provider_key(org.id, "openai", "sk-upstream-fake-key-0000000000")
print(store.create_api_key(org.id)[1])
