"""Business operations, one place for each: views, the API, tasks and commands all call these."""
