"""CLOSP pieces with answers worked out by hand: spherical harmonics, the losses, composed-query scoring."""

import math

import numpy as np
import pytest
import torch

from rsq.closp.location import LocationEncoder, spherical_harmonics
from rsq.closp.model import contrastive_loss
from rsq.query.composed import composed_scores, gaussian_cdf_normalise


def test_spherical_harmonics_known_values():
    features = spherical_harmonics(np.array([0.0, 45.0]), np.array([90.0, 0.0]), degree=10)
    assert features.shape == (2, 100)
    assert features[:, 0] == pytest.approx(1 / (2 * math.sqrt(math.pi)))  # Y_0^0
    # l = 1: columns m = -1, 0, 1 -> sqrt(3/4pi) * (sin th sin ph, cos th, sin th cos ph)
    c = math.sqrt(3 / (4 * math.pi))
    assert features[0, 1:4] == pytest.approx([0.0, c, 0.0], abs=1e-6)  # north pole
    assert features[1, 1:4] == pytest.approx(
        [c * math.sin(math.radians(45)), 0.0, c * math.cos(math.radians(45))], abs=1e-6
    )


def test_spherical_harmonics_are_orthonormal_on_the_sphere():
    rng = np.random.default_rng(0)
    n = 200_000
    lon = rng.uniform(-180, 180, n)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))  # uniform on the sphere
    features = spherical_harmonics(lon, lat, degree=4).astype(np.float64)
    gram = 4 * math.pi * features.T @ features / n
    assert gram == pytest.approx(np.eye(16), abs=0.03)


def test_location_encoder_shapes_and_determinism():
    torch.manual_seed(0)
    encoder = LocationEncoder(degree=10, hidden=64, layers=2, out_dim=384)
    places = torch.tensor([[-0.76, 38.1], [2.35, 48.86]])
    first, second = encoder(places), encoder(places)
    assert first.shape == (2, 384) and torch.equal(first, second)
    assert not torch.allclose(first[0], first[1])


def test_contrastive_loss_by_hand():
    a = torch.eye(3)
    b = torch.eye(3)
    scale = torch.tensor(math.log(10.0))  # logits = 10 * a @ b.T
    expected = -math.log(math.exp(10) / (math.exp(10) + 2))
    assert float(contrastive_loss(a, b, scale)) == pytest.approx(expected, rel=1e-3)  # float32
    # rows 0 and 1 share a caption: each may match either, so both targets are spread over the pair
    same = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    spread = -0.5 * (math.log(math.exp(10) / (math.exp(10) + 2)) + math.log(1 / (math.exp(10) + 2)))
    loss = float(contrastive_loss(a, b, scale, same))
    assert loss == pytest.approx((2 * spread + -math.log(math.exp(10) / (math.exp(10) + 2))) / 3, rel=1e-3)


def test_gaussian_cdf_normalisation_by_hand():
    # mean 2, population std sqrt(2/3): z = -1.2247, 0, 1.2247
    normalised = gaussian_cdf_normalise(np.array([[1.0, 2.0, 3.0]]))
    assert normalised[0] == pytest.approx([0.110335, 0.5, 0.889665], abs=1e-6)
    assert gaussian_cdf_normalise(np.array([[4.0, 4.0]]))[0] == pytest.approx([0.5, 0.5])


def test_composed_scores_by_hand():
    image = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])
    text = np.array([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    scores = composed_scores(image, text, lam=0.6)
    # row 0: 0.4 * (0.110335, 0.5, 0.889665) + 0.6 * (0.889665, 0.5, 0.110335)
    assert scores[0] == pytest.approx([0.577933, 0.5, 0.422067], abs=1e-6)
    # row 1: image z = -0.7071, -0.7071, 1.4142 -> 0.2398, 0.2398, 0.9214; text constant -> 0.5
    assert scores[1] == pytest.approx([0.4 * 0.239750 + 0.3, 0.4 * 0.239750 + 0.3, 0.4 * 0.921350 + 0.3], abs=1e-5)
    assert composed_scores(image, text, lam=0.0)[0] == pytest.approx(gaussian_cdf_normalise(image)[0])
    with pytest.raises(ValueError):
        composed_scores(image, text, lam=1.5)


def test_published_closp_checkpoints_map_onto_rsq_towers(tmp_path):
    """A state dict laid out like the authors' CLOSP-RN (s1/s2 encoders = ResNet-50, linear projections)."""
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    from rsq.closp.checkpoint import load_checkpoint

    state = {}
    for sensor, channels in (("s1", 2), ("s2", 13)):
        backbone = timm.create_model("resnet50", pretrained=False, num_classes=0, in_chans=channels)
        state |= {f"{sensor}_encoder.{k}": v for k, v in backbone.state_dict().items()}
        state |= {f"{sensor}_projection.weight": torch.randn(384, 2048), f"{sensor}_projection.bias": torch.zeros(384)}
    state["text_model.embeddings.word_embeddings.weight"] = torch.zeros(2, 384)  # the frozen MiniLM, ignored
    folder = tmp_path / "CLOSP-RN"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    model = load_checkpoint(folder)
    assert set(model.towers) == {"s2", "s1"} and model.config.backbone == "timm:resnet50"
    assert model.config.text_space == "closp-cls:sentence-transformers/all-MiniLM-L6-v2"  # the authors' CLS-token space
    assert torch.equal(model.towers["s1"].projection.weight, state["s1_projection.weight"])
    with torch.no_grad():
        assert model.encode_images("s2", torch.zeros(1, 13, 64, 64)).shape == (1, 384)


class _Fixed:
    """A stand-in numpy generator: whole-tile crops, `turns` quarter turns, no mirror, no jitter."""

    def __init__(self, turns: int) -> None:
        self.turns = turns

    def uniform(self, low, high, size):
        return np.ones(size) if np.ndim(size) == 0 else np.zeros(size)

    def integers(self, low, high, size):
        return np.full(size, self.turns if high == 4 else 1)


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_augmentation_grid_is_exact_for_whole_tiles_and_quarter_turns(turns):
    from rsq.closp.train import augment

    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = augment(images, 8, 1.0, 0.0, _Fixed(turns))
    assert torch.allclose(out, torch.rot90(images, turns, (2, 3)), atol=1e-4)


def test_augmentation_crops_resample_and_jitter_within_bounds():
    from rsq.closp.train import augment

    images = torch.rand(16, 3, 32, 32)
    out = augment(images, 12, 0.6, 0.2, np.random.default_rng(0))
    assert out.shape == (16, 3, 12, 12)
    assert out.min() >= -0.5 and out.max() <= 1.5  # contrast and brightness factors stay within 0.8..1.2


def test_warmup_then_cosine_schedule():
    from rsq.closp.train import warmup_cosine

    factor = warmup_cosine(total=100, warmup=0.1)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(55) == pytest.approx(0.5) and factor(99) < 0.01


def test_towers_standardise_inputs_without_new_weights():
    from rsq.closp.config import ClospConfig
    from rsq.closp.model import ClospModel

    plain = ClospModel(ClospConfig(sensors=["rgb"], widths=[4, 8]))
    scaled = ClospModel(ClospConfig(sensors=["rgb"], widths=[4, 8], input_stats={"rgb": [[0.5] * 3, [0.25] * 3]}))
    assert plain.state_dict().keys() == scaled.state_dict().keys()  # statistics live in config.json, not the weights
    scaled.load_state_dict(plain.state_dict())
    plain.eval(), scaled.eval()
    images = torch.rand(2, 3, 16, 16)
    assert torch.allclose(
        scaled.encode_images("rgb", images), plain.encode_images("rgb", (images - 0.5) / 0.25), atol=1e-5
    )


def test_configs_written_before_two_conv_stages_keep_one(tmp_path):
    import json

    from rsq.closp.config import ClospConfig

    (tmp_path / "config.json").write_text(json.dumps({"sensors": ["rgb"], "widths": [32, 64], "text_model": "m"}))
    config = ClospConfig.read(tmp_path)
    assert config.convs_per_stage == 1 and config.input_stats == {} and config.text_space == "closp-cls:m"
    assert config.input_size == config.image_size  # encoded at the tile size, as they were trained
