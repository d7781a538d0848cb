"""The command line on top of every layer; nothing in the project imports it."""
