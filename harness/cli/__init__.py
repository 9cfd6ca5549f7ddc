"""Every `orderflow` sub-command, one module each (`main` is the parser that dispatches to them)."""
