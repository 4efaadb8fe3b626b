"""The application layer: what every entry point (pages, console, HTTP routes, CLI, simulator) calls.

- `context.Context`: the database, clock, acting user and time zone a call runs with.
- `bus.execute(ctx, command)`: carries out a command (`commands/<area>.py`: small typed objects,
  each with its handler, which owns the unit of work: role check, lock, transaction, audit).
- `queries/<area>.py`: reads returning plain frozen data; pages never hold a session or ORM object.
- `bootstrap`: getting a database ready (schema, settings, demo territory).
"""
