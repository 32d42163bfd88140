"""CSV formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with
`=`, `+`, `-` or `@` (and tab or CR, which some skip before looking) as a formula, so a text
cell that starts with one of them is written with a leading `'`, which makes it text. Only text:
a number (`-5` in a numeric column) stays a number. Shared by report CSV outputs and the
events CSV export, so both follow one rule.
"""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell_neutralize(text: str) -> str:
    """A text cell as written to CSV: `'` before a formula-leading first character."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
