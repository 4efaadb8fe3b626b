"""The application layer: commands and their handlers (role check, unit of work, audit), queries returning
plain data, and getting a database ready.
"""
