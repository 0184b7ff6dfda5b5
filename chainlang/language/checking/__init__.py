"""The checker, split by pass: :mod:`chainlang.language.checking.checker` assembles them."""
