"""The load harness: Locust users for the five styles, the same task mix in each."""
