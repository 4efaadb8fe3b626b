"""Queries for pages and routes, one module per part of the job: each opens a read session, checks
the role, and returns plain frozen data (dataclasses, tuples, DataFrames), never an ORM object.
"""
