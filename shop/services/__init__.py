"""Business rules of the shop: plain Python called by the UI, the REST API and jobs."""
