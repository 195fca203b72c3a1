"""Settings refuse placeholder secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.settings import ServingSettings


@pytest.mark.parametrize("key", ["changeme", "secret", "short"])
def test_placeholder_or_short_api_key_is_refused(key):
    with pytest.raises(ValidationError):
        ServingSettings(LAMBDAREC_API_KEY=key)


def test_real_key_and_defaults():
    s = ServingSettings(LAMBDAREC_API_KEY="a-real-key-1234567", LAMBDAREC_GENERATORS="popular, trending")
    assert s.api_key is not None and s.api_key.get_secret_value() == "a-real-key-1234567"
    assert s.generator_names == ["popular", "trending"]
    assert s.bundle_link == s.models_dir / "current"
