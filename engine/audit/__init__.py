"""Audit: results read back to their evidence, for people who check them.

Takes a `CodingResult` (fresh or recorded JSON) and the note; gives explanations of why a code
was or was not reported (explain.py), the differences of a re-run (replay.py) and a
self-contained HTML page with the evidence highlighted (report_html.py).
"""
