"""The land-cover hierarchy (CORINE Land Cover, levels 1-3) and the label sources mapped onto it."""

import pytest

from rsq.errors import RsqError
from rsq.eval.queries import CLASS_QUERIES
from rsq.landcover import corine


def test_the_nomenclature_has_its_published_shape():
    clc = corine()
    assert [len(clc.level(n)) for n in (1, 2, 3)] == [5, 15, 44]
    assert all(c.code[:-1] in clc.classes for c in clc.classes.values() if c.level > 1)  # every class has a parent
    assert [c.name for c in clc.path("112")] == ["Artificial surfaces", "Urban fabric", "Discontinuous urban fabric"]


def test_every_label_source_maps_onto_existing_classes():
    clc = corine()
    assert set(clc.mappings["ucm"]) == set(CLASS_QUERIES)  # all 21 UCM classes
    for source, labels in clc.mappings.items():
        assert all(code in clc.classes for code in labels.values()), source
    assert [c.code for c in clc.mapped("ucm", "denseresidential")] == ["1", "11", "111"]
    assert [c.name for c in clc.mapped("ucm", "agricultural")][:2] == ["Agricultural areas", "Arable land"]
    assert clc.mapped("sen1floods11", "Water")[-1].name == "Inland waters" and clc.mapped("ucm", "nothing") is None


def test_classes_are_found_by_code_or_name_and_unknown_ones_suggest_the_nearest():
    clc = corine()
    assert clc.find("artificial surfaces").code == "1" and clc.find("523").name == "Sea and ocean"
    with pytest.raises(RsqError, match="did you mean 'Artificial surfaces'"):
        clc.find("Artifical surface")
    with pytest.raises(RsqError, match="'xyz' is not a CORINE Land Cover class"):
        clc.find("xyz")
