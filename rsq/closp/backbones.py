"""Vision backbones: a small CNN rsq trains from scratch on a CPU, or any timm model when installed."""

from __future__ import annotations

from torch import nn

from rsq.errors import RsqError


class SmallCNN(nn.Module):
    """Stages of `convs` 3x3 conv-BN-ReLU blocks, each stage halving the resolution but the last, then global
    average pooling."""

    def __init__(self, in_channels: int, widths: list[int], convs: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for number, width in enumerate(widths):
            for _ in range(convs):
                layers += [
                    nn.Conv2d(previous, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                previous = width
            if number < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = previous

    def forward(self, images):
        return self.pool(self.features(images)).flatten(1)


def make_backbone(name: str, in_channels: int, widths: list[int], convs: int = 1) -> nn.Module:
    """`cnn` or `timm:<model name>` (no pretrained download; weights come from a checkpoint)."""
    if name == "cnn":
        return SmallCNN(in_channels, widths, convs)
    if name.startswith("timm:"):
        from rsq.extras import require

        timm = require("timm", "closp")
        model = timm.create_model(name.removeprefix("timm:"), pretrained=False, num_classes=0, in_chans=in_channels)
        model.out_features = model.num_features
        return model
    raise RsqError(f"unknown backbone {name!r}: use cnn or timm:<model name>")
