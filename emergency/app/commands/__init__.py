"""Commands, one module per part of the job, each command beside its handler.

Every module here is imported by `emergency.app.bus` before the first command runs, which registers
its handlers; a new module needs no other registration.
"""
