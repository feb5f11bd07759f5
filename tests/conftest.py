import os

# Loops compile in the process that runs them (not in a helper process while calls run
# uncompiled), so that every test knows which tier answers each call. Set before the
# library is imported; tests/test_background_compile.py turns helpers on where it tests them.
os.environ.setdefault("TINYGRAD_RNN_BACKGROUND", "0")
# Two simulated CPU devices for the data-parallel tests (XLA reads this when JAX starts;
# everything else runs on the first device, as it would without it).
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_force_host_platform_device_count=2".strip()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", deadline=None, max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "25")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("default")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
