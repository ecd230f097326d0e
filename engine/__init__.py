"""The engine, arranged by stage; imports run one way, top to bottom:

    interfaces/  command line, REST service, FHIR, batch: input and output, never coding logic
    audit/       explain, replay and the HTML report: reading results back to their evidence
    coding/      mentions -> codes: the Coder, assignment, specificity walk, policy,
                 combination, ambiguity and the LLM chooser, encounter and result assembly
    rulelang/    the rule language: grammar, packs, evaluation, lint, rule tests, `check`
    reading/     text -> mentions: the medspaCy pipeline, sections, concepts, ConText,
                 measurements, how words read
    result.py    the contract between them: CodingResult and its parts, serialised to JSON

All of them stand on `medcode.terminology` (the code set, the lexicon), which imports none of
them. tests/test_architecture.py keeps the direction and forbids circles.
"""
