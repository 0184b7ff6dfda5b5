"""The chain language: text in, a checked and typed program (IR) out.

Stages, each a module or small package that returns immutable values:

- ``source``, ``diagnostics``: spans, error codes and their rendering
- ``syntax/``: the parser (the only place lark is imported), the AST builder, AST nodes, ``fmt``
- ``types``, ``labelsets``, ``answers``: value and answer types, label sets, answer schemas
- ``checking/``: the checker, one module per kind of construct
- ``ir``, ``lower``: the typed IR and AST → IR
- ``analysis/``: the one static evaluator and the call bounds built on it
- ``compiler``: the entry points (``check_file``, ``compile_file``, ...)

Nothing here imports the runtime, providers, vision code or any provider SDK.
"""
