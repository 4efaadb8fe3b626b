"""The demo territory, Lanhai City, and its years of history, generated from a seed."""
