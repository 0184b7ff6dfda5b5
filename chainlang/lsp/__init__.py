"""The language server behind ``chainlang lsp``: the compiler served to editors.

One module per feature, each a plain function of an
:class:`~chainlang.lsp.analysis.Analysis` (``diagnostics``, ``hover``,
``definition`` (and references), ``completion``, ``formatting``, ``symbols``,
``lens``); ``server`` wires them to pygls. It reads only the compiler's public
entry points and the standard library's signatures (``language``, ``stdlib``);
only the CLI imports this package (tests/test_architecture.py).
"""
