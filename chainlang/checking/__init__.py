"""The checker, split by pass: :mod:`chainlang.check` assembles them."""
