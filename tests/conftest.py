"""Settings shared by every test tier."""

import os

# Every Ray cluster the tests start or join runs without Ray's token auth, whatever token an
# earlier local `ray.init()` may have left in ~/.ray (robofleet's own default, see
# cluster/deploy.py).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
