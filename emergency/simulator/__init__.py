"""The storm simulator: a storm crosses the territory and the system is driven through its services.
`runner.Simulation` runs one scenario of `scenarios.SCENARIOS` (typhoon, thunderstorm, feeder-trip, ice-
storm) against a database, and `live` runs the typhoon in the background of the app on a demo database.
Nothing is imported here, so the command line stays quick to start.
"""
