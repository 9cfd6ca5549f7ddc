"""One abstract Locust user per style, each speaking its style's real protocol."""
