import socket

import pytest
import ray

from tests.unit.conftest import ForbiddenInUnitTests


def test_ray_init_is_forbidden():
    with pytest.raises(ForbiddenInUnitTests, match="ray.init"):
        ray.init()


def test_create_connection_is_forbidden():
    with pytest.raises(ForbiddenInUnitTests):
        socket.create_connection(("127.0.0.1", 9))


@pytest.mark.parametrize("method", ["connect", "connect_ex"])
def test_socket_connect_is_forbidden(method):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(ForbiddenInUnitTests):
            getattr(sock, method)(("127.0.0.1", 9))
