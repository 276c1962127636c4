"""The Authenticator's cache of verified personal tokens: a short TTL instead of a database query per request."""

from __future__ import annotations

from mlservice.identity.authenticator import VerifiedTokens
from mlservice.identity.principal import Principal

ALICE = Principal.github(1, "alice", token_id="t1")


class Store:
    """A token store that counts how often it is asked, and whose answer the test changes (revocation)."""

    def __init__(self):
        self.valid = {"mls_alice": ALICE}
        self.asked = 0

    def verify(self, token: str):
        self.asked += 1
        return self.valid.get(token)


class Clock:
    """A clock the test moves."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_trusted_for_the_ttl_then_checked_again():
    store, clock = Store(), Clock()
    cache = VerifiedTokens(store.verify, ttl=5.0, clock=clock)
    assert cache.principal("mls_alice") == ALICE
    assert cache.principal("mls_alice") == ALICE and store.asked == 1  # no second query
    del store.valid["mls_alice"]  # revoked in another process
    clock.now += 4.9
    assert cache.principal("mls_alice") == ALICE  # still within the TTL: the documented window
    clock.now += 0.2
    assert cache.principal("mls_alice") is None and store.asked == 2


def test_unknown_tokens_are_never_cached_and_forget_drops_everything():
    store, clock = Store(), Clock()
    cache = VerifiedTokens(store.verify, ttl=5.0, clock=clock)
    assert cache.principal("mls_guess") is None and cache.principal("mls_guess") is None
    assert store.asked == 2  # a wrong token is asked about each time (and never stored)
    cache.principal("mls_alice")
    del store.valid["mls_alice"]
    cache.forget()  # this process revoked it
    assert cache.principal("mls_alice") is None


def test_ttl_zero_asks_the_store_every_time():
    store = Store()
    cache = VerifiedTokens(store.verify, ttl=0)
    for _ in range(3):
        assert cache.principal("mls_alice") == ALICE
    assert store.asked == 3


def test_the_cache_is_bounded():
    store, clock = Store(), Clock()
    store.valid = {f"mls_{i}": ALICE for i in range(VerifiedTokens.MAX_ENTRIES + 10)}
    cache = VerifiedTokens(store.verify, ttl=5.0, clock=clock)
    for token in store.valid:
        cache.principal(token)
    assert len(cache._entries) == VerifiedTokens.MAX_ENTRIES  # pylint: disable=protected-access
