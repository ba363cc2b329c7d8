"""The kernel every service imports: settings, tokens, databases, web plumbing and timing."""
