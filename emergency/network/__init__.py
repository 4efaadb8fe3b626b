"""The territory's network: the radial model (`model`), trouble-call analysis (`analysis`, with the
reads it makes each batch in `reads`), map layers (`territory`), important users, and the import of
a utility's own data (`importer`: files read in `import_files`, rows checked in `import_check`,
reconciled and written in `import_write`).
"""
