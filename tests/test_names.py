"""The names a bake derives from what a person typed: the package from project_name, the vendor's
module and class from vendor_name. Any text must give names the pre-gen hook accepts."""

from __future__ import annotations

import ast
import keyword
import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from .baking import PROJECT_TEMPLATE, rendered_answers
from .test_hooks import DEFAULTS, SUGGESTION

VENDORS_PACKAGE = PROJECT_TEMPLATE / "{{cookiecutter.project_slug}}" / "vendors"
# A line that is a Jinja tag alone: the module's optional parts are kept whole without them.
JINJA_TAG_LINE = re.compile(r"^[ \t]*\{%.*%\}[ \t]*\n", re.M)
# Top-level names in the module the vendor's client class is defined beside, whatever the
# answers.
VENDOR_BASE_NAMES = {
    node.name
    for node in ast.parse(JINJA_TAG_LINE.sub("", (VENDORS_PACKAGE / "base.py").read_text())).body
    if isinstance(node, ast.ClassDef | ast.FunctionDef)
}


IMPORTED = re.compile(r"^[ \t]*(?:from ([A-Za-z_]\w*)[\w.]* import |import ([A-Za-z_]\w*))", re.M)

# Whatever a person may type: any Unicode, words of several scripts, and long names.
typed_names = st.text() | st.lists(st.text(min_size=1, max_size=15), min_size=1, max_size=12).map(
    " ".join
)


@pytest.mark.parametrize(
    ("project_name", "slug"),
    [
        ("IoT Monitor", "iot_monitor"),
        ("Gewächshaus Überwachung", "gewachshaus_uberwachung"),
        ("Straße der Sensoren", "strasse_der_sensoren"),
        ("温室监控", "wen_shi_jian_kong"),
        # Full-width letters and a circled digit, which only NFKC makes plain.
        ("\uff29\uff4f\uff34 \u2460", "iot_1"),
        ("3D Printer Farm (Zürich)", "my_3d_printer_farm_zurich"),
        (
            "O'Neill's greenhouse and garage automation kit",
            "oneills_greenhouse_and_garage_automation",
        ),
        (
            "Automated greenhouse climate monitoring and control",
            "automated_greenhouse_climate_monitoring",
        ),
        ("Sensor" * 8, "sensor" * 6 + "sens"),
        ("1" * 50, "my_" + "1" * 37),
        ("Django", "my_django"),
        ("Tests", "my_tests"),
        ("Class", "my_class"),
        ("JSON", "my_json"),
        ("¡¿!?", "my_project"),
        ("", "my_project"),
    ],
)
def test_the_slug_is_derived_from_the_project_name(project_name, slug):
    assert rendered_answers(project_name=project_name)["project_slug"] == slug


@pytest.mark.parametrize(
    ("vendor_name", "module", "client_class"),
    [
        ("Acme Cloud", "acme_cloud", "AcmeCloudClient"),
        ("Acme (EU) Cloud", "acme_eu_cloud", "AcmeEuCloudClient"),
        (
            "Acme (EU) Cloud Services GmbH & Co. KG",
            "acme_eu_cloud_services_gmbh_co",
            "AcmeEuCloudServicesGmbhCoClient",
        ),
        (
            "Bright-Home Cloud Platform Ltd",
            "bright_home_cloud_platform_ltd",
            "BrightHomeCloudPlatformLtdClient",
        ),
        ("Škoda Connect", "skoda_connect", "SkodaConnectClient"),
        ("3D Plugs", "my_3d_plugs", "My3DPlugsClient"),
        ("Simulator", "my_simulator", "MySimulatorClient"),
        ("Models", "my_models", "MyModelsClient"),
        ("Vendor", "my_vendor", "MyVendorClient"),
        ("HTTP", "my_http", "MyHttpClient"),
        ("", "my_vendor", "MyVendorClient"),
    ],
)
def test_the_vendor_module_and_class_are_derived_from_the_vendor_name(
    vendor_name, module, client_class
):
    answers = rendered_answers(vendor_name=vendor_name)

    assert (answers["__vendor_module"], answers["__vendor_class"]) == (module, client_class)


@given(typed_names)
@example("3D Printer Farm (Zürich)")
def test_any_project_name_gives_a_slug_the_hook_accepts(pre_gen, project_name):
    slug = pre_gen.project_slug(project_name)

    assert slug.isidentifier() and slug.islower() and not keyword.iskeyword(slug)
    assert len(slug) <= pre_gen.MAX_NAME_LENGTH
    assert not pre_gen.shadowed_import(slug)
    assert pre_gen.validate(DEFAULTS | {"project_slug": slug}) == []
    assert pre_gen.project_slug(project_name) == slug
    # What the person would type to keep it gives it back.
    assert pre_gen.project_slug(slug) == slug


@given(typed_names)
@example("Acme (EU) Cloud GmbH & Co. KG")
@example("Vendor")
@example("MQTT Push")
def test_any_vendor_name_gives_a_module_and_class_the_hook_accepts(pre_gen, vendor_name):
    module = pre_gen.vendor_module(vendor_name)
    client_class = pre_gen.vendor_class(module)

    assert module.isidentifier() and module.islower() and not keyword.iskeyword(module)
    assert len(module) <= pre_gen.MAX_VENDOR_MODULE_LENGTH
    assert module not in pre_gen.TAKEN_VENDOR_MODULES
    assert not pre_gen.shadowed_import(module)
    assert pre_gen.validate(DEFAULTS | {"__vendor_module": module}) == []
    assert client_class.isidentifier() and client_class not in VENDOR_BASE_NAMES
    assert (pre_gen.vendor_module(vendor_name), pre_gen.vendor_class(module)) == (
        module,
        client_class,
    )
    assert pre_gen.vendor_module(module) == module


@given(typed_names)
@example("2fast")
def test_a_refused_slug_comes_with_a_suggestion_the_hook_accepts(pre_gen, typed_slug):
    problems = pre_gen.validate(DEFAULTS | {"project_slug": typed_slug})
    assume(problems)

    (problem,) = problems
    suggestion = SUGGESTION.search(problem).group(1)
    assert pre_gen.validate(DEFAULTS | {"project_slug": suggestion}) == []


@given(typed_names.filter(lambda name: "{" not in name))
def test_cookiecutter_json_derives_with_the_hooks_functions(pre_gen, name):
    # Braces are left out: cookiecutter renders every answer as a Jinja template of its own.
    answers = rendered_answers(project_name=name, vendor_name=name)

    assert answers["project_slug"] == pre_gen.project_slug(name)
    assert answers["__vendor_module"] == pre_gen.vendor_module(name)
    assert answers["__vendor_class"] == pre_gen.vendor_class(answers["__vendor_module"])


def test_every_module_of_the_vendors_package_is_reserved(pre_gen):
    own_modules = {
        path.stem for path in VENDORS_PACKAGE.iterdir() if not path.name.startswith(("_", "{{"))
    }

    assert own_modules <= pre_gen.TAKEN_VENDOR_MODULES


def test_every_module_the_project_imports_or_holds_at_its_root_is_shadowed(pre_gen):
    names = {
        path.stem
        for path in PROJECT_TEMPLATE.iterdir()
        if (path.is_dir() or path.suffix == ".py") and not path.name.startswith((".", "{{"))
    }
    for path in PROJECT_TEMPLATE.rglob("*.py"):
        for from_name, import_name in IMPORTED.findall(path.read_text()):
            names.add(from_name or import_name)

    assert {name for name in names if not pre_gen.shadowed_import(name)} == set()
