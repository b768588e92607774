"""Pure SQL: statement descriptions, the compiler, dialects, placeholders, DDL.

Nothing in this package knows a model or a driver.
"""
