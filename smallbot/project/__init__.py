"""A bot project as its author writes it: `bot.yml`, intents and FAQ files, read with file and line."""
