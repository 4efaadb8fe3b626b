"""The foundations every part stands on: storage, the data model, settings, time, ids, errors, audit, users
and tokens.
"""
