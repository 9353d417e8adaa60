"""nbval settings for the notebooks, picked up by plain `pytest --nbval` too.

stderr is not compared: it carries progress bars and Python warnings whose wording changes
with library versions. Widget views (tqdm's bar in Jupyter) are not compared either; the
notebooks assert in code what must hold instead.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "stderr",
            "application/vnd.jupyter.widget-view+json",
            "text/html",
        )
