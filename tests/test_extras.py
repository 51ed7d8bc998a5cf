"""Missing optional dependencies: one message style, naming what needs them and what installs them."""

import sys

import pytest

from rsq.errors import RsqError
from rsq.extras import require


def test_require_names_the_extra_or_the_package():
    assert require("json").dumps({}) == "{}"
    with pytest.raises(
        RsqError, match=r"^this needs no_such_module: install rsq\[serve\] \(pip install 'rsq\[serve\]'\)$"
    ):
        require("no_such_module", "serve")
    with pytest.raises(RsqError, match=r"^all-MiniLM needs no_such_module: pip install no-such-package$"):
        require("no_such_module", package="no-such-package", needed_by="all-MiniLM")


@pytest.mark.parametrize(
    "module,call,message",
    [
        (
            "ray",
            lambda: __import__("rsq.raycluster", fromlist=["start_ray"]).start_ray(None),
            r"this needs ray: install rsq\[ray\]",
        ),
        (
            "timm",
            lambda: __import__("rsq.closp.backbones", fromlist=["x"]).make_backbone("timm:resnet18", 3, [8]),
            r"this needs timm: install rsq\[closp\]",
        ),
    ],
)
def test_each_stage_says_it_the_same_way(monkeypatch, module, call, message):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RsqError, match=message):
        call()
