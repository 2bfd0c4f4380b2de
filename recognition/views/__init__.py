"""Web pages. Each view: check the role, load through a selector, act through a service, respond."""
