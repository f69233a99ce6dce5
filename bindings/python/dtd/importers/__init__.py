"""Importers: PyTorch (``torch.fx``), ONNX and scikit-learn models as libdtd networks.

Each lives in its own module and imports its framework only when called, so numpy stays the
package's only hard dependency. ``dtd.from_torch``, ``dtd.from_onnx`` and ``dtd.from_sklearn``
are the entry points; ``dtd.importers.<framework>.convert(...)`` gives the JSON model (a dict
with numpy tensors) that they build, which ``Network.from_json`` reads and ``json.dumps``
writes once the tensors are lists (``Network.to_json`` does that).
"""
