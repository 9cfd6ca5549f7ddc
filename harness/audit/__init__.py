"""The checks after a run: every order ended once, and the services' books agree with it."""
