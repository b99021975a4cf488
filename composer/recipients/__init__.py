"""Recipient lists: who a notice goes to, uploaded as CSV files.

An import (``importing.import_csv``) reads the file (``reading``), checks its rows
(``checking``, in chunks by ``chunking``; for a large file in a second process,
``row_process``), folds rows with the same address together (``duplicates``) and writes the
rest (``pending`` is a checked row on its way). ``digest`` computes the list digest legal's
approval binds to; ``lists`` reads lists back (the error report, masked previews); ``cohorts``
groups recipients by the variant of the notice they need. docs/recipients.md describes the file.
No Flask.
"""
