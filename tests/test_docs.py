"""The documentation site builds with warnings treated as errors, its gallery executed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

for extra in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "matplotlib"):
    pytest.importorskip(extra, reason="the docs extra is not installed")

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = DOCS.parent / "examples"


@pytest.mark.docs
def test_docs_build_without_warnings(tmp_path):
    html = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)]
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    # Every gallery script ran and left at least one figure.
    for script in EXAMPLES.glob("plot_*.py"):
        assert list((html / "_images").glob(f"sphx_glr_{script.stem}_*.png")), script.name
