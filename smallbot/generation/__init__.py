"""The small local generator for small talk, and the fact check every generated reply streams through."""
