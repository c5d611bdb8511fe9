"""Sphinx configuration for the skvae documentation.

Build with::

    python -m sphinx -W -b html docs docs/_build/html
"""

import os
import sys

# Import the package from this checkout even when it is not installed.
sys.path.insert(0, os.path.abspath(".."))

import skvae  # noqa: E402

project = "skvae"
author = "skvae developers"
copyright = "skvae developers"
version = skvae.__version__
release = skvae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- API reference -----------------------------------------------------------
autosummary_generate = True
# numpydoc already lists a class's methods; letting it also list members would
# produce duplicate autosummary tables.
numpydoc_show_class_members = False

# -- Example gallery ---------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every script whose name starts with ``plot_``.
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    # Do not write sg_execution_times.rst into the source tree.
    "write_computation_times": False,
}

# -- HTML output -------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_theme_options = {
    "navigation_with_keys": False,
}
