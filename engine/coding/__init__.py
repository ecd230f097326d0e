"""Coding: the mentions of a note -> its reported codes.

Takes the `Mention`s that reading gives and the code set; gives a `CodingResult`. Each mention
becomes a candidate (assignment: the matched node walked down to the most specific billable
code the words support, then the setting's assertion policy), combination codes absorb what
they stand for, ambiguous fallbacks are marked (and offered to the optional LLM), the rule packs
act on the encounter, and the result is assembled with evidence, trace, edits and queries.
`Coder` (coder.py) runs these steps in order, one call each.
"""
