"""The UPSeg-DOFA recipes parse and build the paper's model (no data, no weights needed)."""

from __future__ import annotations

import pytest

from model_export.data.spec import GID5_SPEC, WHU_OPT_SAR_SPEC
from model_export.models import model_config
from model_export.models.encoders import modality_wavelengths
from model_export.training.train import load_config


@pytest.mark.parametrize(("config", "spec"), [
    ("model_export/configs/whu_opt_sar_upseg_dofa.yaml", WHU_OPT_SAR_SPEC),
    ("model_export/configs/gid5_upseg_dofa.yaml", GID5_SPEC)])
def test_recipe_builds_dofa_base_with_band_wavelengths(config: str, spec: object) -> None:
    cfg = load_config(config)
    assert cfg["model"]["name"] == "upseg_dofa_base"
    mcfg = model_config(cfg["model"]["name"], num_classes=spec.num_classes,
                        in_channels_optical=spec.in_channels_optical,
                        in_channels_sar=spec.in_channels_sar,
                        optical_bands=[b.name for b in spec.optical_bands],
                        sar_bands=[b.name for b in spec.sar_bands],
                        **cfg["model"]["options"])
    assert (mcfg.vit_dim, mcfg.vit_depth, mcfg.vit_heads) == (768, 12, 12)
    waves = modality_wavelengths(mcfg, "optical")
    expected = {"red": 0.665, "green": 0.56, "blue": 0.49, "nir": 0.842}
    assert waves == [expected[b.name] for b in spec.optical_bands]
    assert modality_wavelengths(mcfg, "sar") == [3.75]
