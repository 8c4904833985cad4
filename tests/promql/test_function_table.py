"""The name -> module table the compiler loads functions by, against the modules themselves."""

from __future__ import annotations

import importlib

from healthgauge.promql._functions import FUNCTION_MODULES, RANGE_FUNCTIONS, node_class


def test_every_function_is_in_the_module_the_table_names_and_nowhere_else() -> None:
    modules = set(FUNCTION_MODULES.values())
    for module in modules:
        implemented = set(importlib.import_module(f"healthgauge.promql.{module}").FUNCTIONS)
        listed = {name for name, where in FUNCTION_MODULES.items() if where == module}
        assert implemented == listed, module


def test_node_class_gives_each_function_its_class() -> None:
    for name in FUNCTION_MODULES:
        cls = node_class(name)
        assert cls.__module__ == f"healthgauge.promql.{FUNCTION_MODULES[name]}"
        assert (name in RANGE_FUNCTIONS) == (name.endswith("_over_time") or FUNCTION_MODULES[name] == "_range")
