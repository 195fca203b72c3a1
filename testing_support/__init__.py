"""Throw-away real services and hand-made artifacts shared by the tests and the benchmarks.

Not part of any component: tests and benchmarks import it, component code never does. It lives
outside ``tests/`` so that ``benchmarks/`` need not import test code.
"""
