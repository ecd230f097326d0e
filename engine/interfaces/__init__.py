"""Interfaces: how users reach the engine.

Take notes from files, folders, stdin, JSONL, HTTP and FHIR resources; give results as text,
JSON, HTML or FHIR with the exit statuses and error lines of the contract (docs/CLI.md). The
command line (cli.py and the command modules), the REST service, FHIR mapping and batch runs
live here; none of them decides a code.
"""
