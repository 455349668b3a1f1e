import time

import pytest

from runtime.keys import (
    ROLE_PERMISSIONS,
    ApiKey,
    Permission,
    Role,
    denial,
    hash_key,
    new_api_key,
)


def test_new_key_is_random_and_only_its_hash_is_in_the_record():
    secret, record = new_api_key(Role.OPERATOR, ["b", "a", "a"], expires_in_s=60, now=100.0)
    other, _ = new_api_key(Role.OPERATOR)
    assert secret.startswith("rf_") and len(secret) > 40 and secret != other
    assert record.key_hash == hash_key(secret) and len(record.key_hash) == 64
    assert secret not in record.model_dump_json() and secret[3:] not in record.model_dump_json()
    assert record.modules == ["a", "b"] and record.expires_at == 160.0


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, None),
        ({"revoked_at": 50.0}, "revoked"),
        ({"revoked_at": 150.0}, None),
        ({"expires_at": 100.0}, "expired"),
        ({"expires_at": 101.0}, None),
        ({"overlap_until": 90.0}, "rotated"),
        ({"overlap_until": 110.0}, None),
    ],
)
def test_key_problem_at_a_time(fields, problem):
    key = ApiKey(id="k", key_hash="h", role=Role.VIEWER, created_at=1.0, **fields)
    found = key.problem(now=100.0)
    assert (found is None) if problem is None else (problem in found)


def test_states_for_listings():
    now = time.time()
    base = {"id": "k", "key_hash": "h", "role": Role.VIEWER}
    assert ApiKey(**base).state() == "active"
    assert ApiKey(**base, overlap_until=now + 60).state() == "rotating"
    assert ApiKey(**base, overlap_until=now - 1).state() == "rotated"
    assert ApiKey(**base, revoked_at=now - 1).state() == "revoked"
    assert ApiKey(**base, expires_at=now - 1).state() == "expired"


def test_role_permissions():
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)
    operator = ApiKey(id="o", key_hash="h", role=Role.OPERATOR, modules=["echo"])
    viewer = ApiKey(id="v", key_hash="h", role=Role.VIEWER)
    assert operator.may(Permission.OPERATE) and not operator.may(Permission.ADMIN)
    assert viewer.may(Permission.READ) and not viewer.may(Permission.OPERATE)
    assert operator.allows_module("echo") and not operator.allows_module("sleep")
    assert viewer.allows_module("anything")
    assert "operator or admin" in denial(Role.VIEWER, Permission.OPERATE)
