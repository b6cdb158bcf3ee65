"""lifecircle — plan, evaluate and run 15-minute convenient living circles (一刻钟便民生活圈).

Layers, data flowing one way:
``sources`` (file readers, coordinate systems) → ``city`` (validated city data, store)
→ ``network`` (walking network and engine) → ``indicators`` → ``plans`` → ``reports`` / ``web``.
The CLI (:mod:`lifecircle.cli`) and the web app are thin shells over these modules.
"""

__version__ = "0.1.0"
